#!/usr/bin/env bash
# make bench-log: the delivery log at scale (docs/performance.md, "The log at
# scale"). A PostgreSQL of its own on BENCH_LOG_PG_PORT (55435; its database
# dropped and recreated each run), nothing else: .bin/benchlog migrates it,
# fills it with a log of 10 million attempts over 30 days across 1,000
# accounts (generate_series, through the store's own schema), then measures
# every search's latency and plan, the tables' sizes, a period's partitions
# dropped against a day's rows deleted, and writes
# docs/results/bench-log/<time>.json (and latest.json).
# Flags pass through: make bench-log ARGS="-attempts 1000000"; -h lists them.
# The run is niced: it takes the machine for a while (~1 h for 10 million
# attempts on 2 shared cores) and about 15 GB of disk.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
DATA="$ROOT/.data/bench-log"
mkdir -p "$DATA"
trap stop_started EXIT
trap 'exit 130' INT TERM

PG_PORT=${BENCH_LOG_PG_PORT:-55435}
DB=webhooks_bench_log
ensure_postgres "$DATA/pg" "$PG_PORT" "$DB"
# BENCH_LOG_REUSE=1: measure the searches again on the log a previous run
# left (no generation, no retention), e.g. on a quieter machine.
if [ "${BENCH_LOG_REUSE:-}" = 1 ]; then
  set -- -reuse "$@"
else
  log "recreating database $DB"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" postgres
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE \"$DB\"" postgres
  # The measured cost is the work, not the disk's flush (synchronous_commit
  # is a database setting here, for the bench's database only).
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "ALTER DATABASE \"$DB\" SET synchronous_commit = off" postgres
fi

log "building .bin/benchlog"
go build -o "$BIN/benchlog" ./cmd/benchlog
cd "$ROOT"
nice -n 10 "$BIN/benchlog" -database "postgres://postgres@127.0.0.1:$PG_PORT/$DB?sslmode=disable" "$@"
