#!/usr/bin/env bash
# make test: a throwaway PostgreSQL cluster, Temporal dev server and tinyproxy
# of its own (never make run's), then go vet, gofmt, staticcheck,
# workflowcheck and every test, integration tests included.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
DATA="$ROOT/.data/test"
mkdir -p "$DATA"
trap stop_started EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
  ensure_postgres "$DATA/pg" 25433 webhooks_test
  export DATABASE_URL="$PG_URL"
fi
if [ -z "${TEMPORAL_ADDRESS:-}" ]; then
  start_temporal 7243 8243
  export TEMPORAL_ADDRESS=127.0.0.1:7243 TEMPORAL_UI_URL=http://127.0.0.1:8243
fi
export TEMPORAL_CLI="$BIN/temporal"
# The egress proxy tests (e2e/proxy_test.go) go through a real tinyproxy.
if [ -z "${PROXY_URL:-}" ]; then
  start_proxy "$DATA/proxy" 28888 webhooks proxy-test-pass
  export PROXY_URL PROXY_LOG
fi
# The tracing test (e2e/tracing_test.go) exports to a real OpenTelemetry
# Collector and reads the spans it wrote.
if [ -z "${OTELCOL_ENDPOINT:-}" ]; then
  start_otelcol "$DATA/otelcol" 24318
  export OTELCOL_ENDPOINT OTELCOL_FILE
fi
# The console's browser tests drive Debian's headless Chromium.
if ! command -v chromium >/dev/null; then
  log "installing Debian's chromium for the console's browser tests"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
# The e-mail notices are tested against a real SMTP server, Debian's aiosmtpd.
if ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
  log "installing Debian's python3-aiosmtpd for the e-mail notice tests"
  apt-get update -qq && apt-get install -y -qq python3-aiosmtpd >/dev/null
fi

# The TypeScript example (e2e/typescript_test.go) with the @temporalio/client
# its package-lock.json pins.
if command -v npm >/dev/null; then
  log "building examples/typescript (npm ci, tsc)"
  (cd "$ROOT/examples/typescript" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
else
  log "no npm: the TypeScript example's test will skip"
fi

cd "$ROOT"
log "go vet"
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*'))
if [ -n "$unformatted" ]; then log "gofmt needed: $unformatted"; exit 1; fi
run_linters
log "go test (DATABASE_URL=$DATABASE_URL TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS)"
go test -race -count=1 -parallel 4 -timeout 20m "$@" ./...
# deploy/k8s against the Kubernetes API types (client-go's scheme, strict),
# in a module of its own so client-go stays out of the main module.
if [ $# -eq 0 ]; then
  log "deploy/k8s against the Kubernetes API (tools/k8scheck)"
  (cd tools/k8scheck && go test -count=1 ./...)
fi
# A short fuzz of the request body decoder (make chaos fuzzes longer). A
# count, not a duration: Go's fuzzing coordinator can fail a run with
# "context deadline exceeded" as a duration ends (go.dev/issue/75804, fixed
# in Go 1.27); 10,000 inputs take about 10 s here.
if [ $# -eq 0 ]; then
  for target in FuzzScanJSON FuzzDecode; do
    log "fuzzing $target for ${FUZZTIME:-10000x}"
    go test ./internal/api -run '^$' -fuzz "^$target\$" -fuzztime "${FUZZTIME:-10000x}"
  done
fi
