#!/usr/bin/env bash
# make check: the fast tier, no servers. Build, go vet, gofmt, staticcheck,
# workflowcheck and the unit tests; tests that need PostgreSQL or Temporal
# skip because DATABASE_URL and TEMPORAL_ADDRESS are unset here, and -short
# skips the slow ones. make test runs everything.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
cd "$ROOT"

log "go build"
go build ./...
log "go vet"
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*'))
if [ -n "$unformatted" ]; then log "gofmt needed: $unformatted"; exit 1; fi
run_linters
log "go test -short (no PostgreSQL, no Temporal)"
env -u DATABASE_URL -u TEMPORAL_ADDRESS go test -short -count=1 "$@" ./...
