#!/usr/bin/env bash
# make test-cluster: the e2e suite against a real Temporal server (not the dev
# server): PostgreSQL persistence and visibility, 4 history shards, mTLS
# (scripts/cluster.sh). Runs the whole e2e package with TEMPORAL_ADDRESS and
# TEMPORAL_TLS_* pointing at it, including the tests that only run there
# (E2E_CLUSTER=1, e2e/cluster_test.go): one `webhookd api` and two
# `webhookd worker` processes; a worker killed mid-run.
# The egress proxy tests (e2e/proxy_test.go, the mTLS one through the proxy)
# go through a real tinyproxy here too, as in make test.
# Its own PostgreSQL (25466), Temporal ports (7290-7299) and tinyproxy
# (28889); stops all three.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
source "$(dirname "$0")/cluster.sh"
DATA="$ROOT/.data/cluster-test"
mkdir -p "$DATA"
trap stop_started EXIT
trap 'exit 130' INT TERM

PG_PORT=${CLUSTER_PG_PORT:-25466}
TEMPORAL_PORT=${CLUSTER_TEMPORAL_PORT:-7290}
ensure_postgres "$DATA/pg" "$PG_PORT" webhooks_test
export DATABASE_URL="$PG_URL"
start_cluster "$DATA/temporal" "$PG_PORT" "$TEMPORAL_PORT"
export E2E_CLUSTER=1
# The fan-out storm at a quarter of its size: its scale (1,000 webhooks)
# is make test's; here it is the cluster's persistence under the storm.
export STORM_WEBHOOKS=${STORM_WEBHOOKS:-250}
if [ -z "${PROXY_URL:-}" ]; then
  start_proxy "$DATA/proxy" "${CLUSTER_PROXY_PORT:-28889}" webhooks proxy-test-pass
  export PROXY_URL PROXY_LOG
fi
if [ -z "${OTELCOL_ENDPOINT:-}" ]; then
  start_otelcol "$DATA/otelcol" "${CLUSTER_OTELCOL_PORT:-24320}"
  export OTELCOL_ENDPOINT OTELCOL_FILE
fi

cd "$ROOT"
log "go test ./e2e/ against the Temporal cluster at $TEMPORAL_ADDRESS (mTLS, namespace $TEMPORAL_NAMESPACE)"
start=$(date +%s)
go test -count=1 -parallel 4 -timeout 12m "$@" ./e2e/...
log "e2e against the cluster passed in $(( $(date +%s) - start )) s"
