#!/usr/bin/env bash
# make chaos: the fault suite on a throwaway stack of its own (never make
# run's, make test's or make bench's): PostgreSQL on 55472 (database dropped
# and recreated each run), then .bin/chaos, which starts its own Temporal dev
# server on 7272 (UI 7273, a fresh SQLite file it kills and restarts),
# webhookd on 127.0.0.1:7274 and, for the receivers scenario, Debian's
# tinyproxy on 7277 (installed here when missing) and, for the notices
# scenario, Debian's aiosmtpd on 7278 (installed here when missing). Flags
# pass through: make chaos ARGS="-rate 5". CHAOS_PG_PORT, CHAOS_TEMPORAL_PORT,
# CHAOS_TEMPORAL_UI_PORT, CHAOS_API_ADDR (its port + 2 is the metrics port),
# CHAOS_PROXY_PORT and CHAOS_SMTP_PORT move the stack (a machine shared by
# several checkouts); CHAOS_FUZZTIME=0 skips the fuzzing (default 200000x: a count, not a
# duration, which Go's fuzzing coordinator can fail at its end, go.dev/issue/75804).
# Everything started here is stopped on exit, PostgreSQL included.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
DATA="$ROOT/.data/chaos"
mkdir -p "$DATA"

PG_PORT=${CHAOS_PG_PORT:-55472}
T_PORT=${CHAOS_TEMPORAL_PORT:-7272}
DB=webhooks_chaos
PGDATA_DIR=

cleanup() {
  local pid
  if [ -f "$DATA/temporal.pid" ]; then
    pid=$(cat "$DATA/temporal.pid")
    # Only if it is still our dev server (the pid may have been reused).
    if grep -q "start-dev" "/proc/$pid/cmdline" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$DATA/temporal.pid"
  fi
  if [ -n "$PGDATA_DIR" ]; then as_pg_user pg_ctl -D "$PGDATA_DIR" -m fast stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if temporal_up "$T_PORT"; then
  log "a Temporal server already answers on 127.0.0.1:$T_PORT (a previous chaos run?); stop it first:"
  pgrep -af "server start-dev.*--port $T_PORT" >&2 || true
  exit 1
fi

ensure_postgres "$DATA/pg" "$PG_PORT" "$DB"
# ensure_postgres may have put the cluster elsewhere (see stack.sh): ask it.
PGDATA_DIR=$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SHOW data_directory" postgres)
log "recreating database $DB"
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" postgres
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE \"$DB\"" postgres
# The shared cluster settings (stack.sh) turn synchronous_commit off, so an
# immediate stop may forget the last commits it acknowledged: outside any
# engine's durability contract. The suite runs with it on;
# CHAOS_SYNCHRONOUS_COMMIT=off shows what the engine does when commits are lost.
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "ALTER DATABASE \"$DB\" SET synchronous_commit = ${CHAOS_SYNCHRONOUS_COMMIT:-on}" postgres
rm -f "$DATA"/temporal-*.db "$DATA"/temporal-*.db-wal "$DATA"/temporal-*.db-shm "$DATA"/*.log

ensure_temporal_cli
ensure_tinyproxy
if ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
  log "installing Debian's python3-aiosmtpd for the notices scenario"
  apt-get update -qq && apt-get install -y -qq python3-aiosmtpd >/dev/null
fi
cd "$ROOT"
# The request body decoder, fuzzed longer than make test does.
if [ "${CHAOS_FUZZTIME:-200000x}" != 0 ]; then
  for target in FuzzScanJSON FuzzDecode; do
    log "fuzzing $target for ${CHAOS_FUZZTIME:-200000x}"
    go test ./internal/api -run '^$' -fuzz "^$target\$" -fuzztime "${CHAOS_FUZZTIME:-200000x}"
  done
fi
log "building .bin/webhookd and .bin/chaos"
go build -o "$BIN/webhookd" ./cmd/webhookd
go build -o "$BIN/chaos" ./cmd/chaos

"$BIN/chaos" -webhookd "$BIN/webhookd" -temporal-cli "$BIN/temporal" \
  -pgdata "$PGDATA_DIR" -database-url "$PG_URL" -data "$DATA" \
  -temporal-port "$T_PORT" -temporal-ui-port "${CHAOS_TEMPORAL_UI_PORT:-7273}" -api-addr "${CHAOS_API_ADDR:-127.0.0.1:7274}" \
  -tinyproxy "$(command -v tinyproxy)" -proxy-port "${CHAOS_PROXY_PORT:-7277}" -smtp-port "${CHAOS_SMTP_PORT:-7278}" "$@"
