#!/usr/bin/env bash
# make run: PostgreSQL, the Temporal dev server (with its Web UI), and webhookd
# (API + worker) in one terminal. Ctrl-C stops everything this script started;
# data under .data/run survives for the next run.
#
# TEMPORAL=cluster (make run TEMPORAL=cluster): a real Temporal server
# instead of the dev server (scripts/cluster.sh: PostgreSQL persistence and
# visibility, 4 history shards, mTLS; no Web UI), and the cluster topology of
# make test-cluster: `webhookd api` and two `webhookd worker` processes. Its
# data lives in .data/run-cluster. RUN_PG_PORT and RUN_TEMPORAL_PORT move
# PostgreSQL (55432) and the Temporal frontend (7233).
set -euo pipefail
source "$(dirname "$0")/stack.sh"
CLUSTER=
if [ "${TEMPORAL:-}" = cluster ]; then CLUSTER=1; source "$(dirname "$0")/cluster.sh"; fi
DATA="$ROOT/.data/run${CLUSTER:+-cluster}"
mkdir -p "$DATA"
trap stop_started EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
  ensure_postgres "$DATA/pg" "${RUN_PG_PORT:-55432}" webhooks
  export DATABASE_URL="$PG_URL"
fi
if [ -n "$CLUSTER" ]; then
  # Temporal's databases go into our PostgreSQL cluster, beside ours.
  pg_port=$(sed -n 's#.*@[^:/]*:\([0-9]*\)/.*#\1#p' <<<"$DATABASE_URL")
  start_cluster "$DATA/temporal" "${pg_port:-55432}" "${RUN_TEMPORAL_PORT:-7233}"
  UI="(none: the cluster has no Web UI here; use .bin/temporal with the TLS flags, see docs/operations.md)"
elif [ -z "${TEMPORAL_ADDRESS:-}" ]; then
  start_temporal 7233 8233 "$DATA/temporal.db"
  export TEMPORAL_ADDRESS=127.0.0.1:7233
  UI="http://127.0.0.1:8233"
else
  UI="(your cluster's Web UI)"
fi
# Local development: callbacks may be plain http:// on this machine.
export SECRETS_KEY_FILE="${SECRETS_KEY_FILE:-$DATA/secrets.key}"
export WEBHOOK_ALLOW_HTTP="${WEBHOOK_ALLOW_HTTP:-true}"
export EGRESS_ALLOW_CIDRS="${EGRESS_ALLOW_CIDRS:-127.0.0.0/8,::1/128}"
export METRICS_ADDR="${METRICS_ADDR:-127.0.0.1:9464}"

cd "$ROOT"
go build -o "$BIN/webhookd" ./cmd/webhookd
"$BIN/webhookd" migrate
if [ ! -s "$DATA/demo-account.json" ]; then
  # It holds an admin key: readable by its owner only (umask in a subshell).
  (umask 077 && "$BIN/webhookd" accounts create --name "Demo Company" --plan professional >"$DATA/demo-account.json.tmp")
  mv "$DATA/demo-account.json.tmp" "$DATA/demo-account.json"
fi
chmod 600 "$DATA/demo-account.json"   # also tighten one left by an earlier run
DEMO_KEY=$(sed -n 's/.*"apiKey": *"\([^"]*\)".*/\1/p' "$DATA/demo-account.json")
DEMO_ACCOUNT=$(sed -n 's/.*"accountId": *"\([^"]*\)".*/\1/p' "$DATA/demo-account.json")
# A fresh one-time sign-in link to the admin console (15 minutes; get
# another with: .bin/webhookd console-link --account $DEMO_ACCOUNT).
CONSOLE_LINK=$("$BIN/webhookd" console-link --account "$DEMO_ACCOUNT")

cat >&2 <<BANNER

  esign-webhooks is starting
    API          http://${HTTP_ADDR:-127.0.0.1:8080}   (GET /readyz, /v1/openapi.json)
    Metrics      http://$METRICS_ADDR/metrics
    Temporal UI  $UI
    Temporal     $TEMPORAL_ADDRESS
    Database     $DATABASE_URL
    Demo admin key (Professional account "Demo Company"):
                 $DEMO_KEY
    Console      $CONSOLE_LINK
                 (one-time link, 15 min; more: .bin/webhookd console-link --account $DEMO_ACCOUNT [--role member])
  Ctrl-C stops everything.

BANNER

if [ -n "$CLUSTER" ]; then
  cat >&2 <<TLS
  Temporal mTLS (for webhookd subcommands and .bin/temporal in another terminal):
    export TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS TEMPORAL_TLS_CERT=$TEMPORAL_TLS_CERT \\
      TEMPORAL_TLS_KEY=$TEMPORAL_TLS_KEY TEMPORAL_TLS_CA=$TEMPORAL_TLS_CA TEMPORAL_TLS_SERVER_NAME=$TEMPORAL_TLS_SERVER_NAME
  webhookd api + 2 workers (metrics of the workers on the next two ports)

TLS
  metrics_port=${METRICS_ADDR##*:}
  METRICS_ADDR=${METRICS_ADDR%:*}:$((metrics_port + 1)) "$BIN/webhookd" worker &
  STARTED_PIDS+=($!)
  METRICS_ADDR=${METRICS_ADDR%:*}:$((metrics_port + 2)) "$BIN/webhookd" worker &
  STARTED_PIDS+=($!)
  "$BIN/webhookd" api &
  STARTED_PIDS+=($!)
  wait -n
  exit 1
fi

"$BIN/webhookd" serve &
STARTED_PIDS+=($!)
wait $!
