#!/usr/bin/env bash
# make bench: delivery benchmarks on a throwaway stack of their own (never
# make run's or make test's): PostgreSQL on 55434 (database dropped and
# recreated each run), a Temporal dev server on 7253 with a fresh SQLite file,
# then .bin/bench, which starts `webhookd api` and `webhookd worker` itself.
# Flags pass through: scripts/bench.sh -quick, or make bench ARGS=-quick;
# make bench ARGS="-storm-only -quick" runs only the storm phase (100
# webhooks), ARGS=-storm=false skips it; ARGS="-phases saturation -floor=false"
# runs one phase; ARGS="-phases saturation,ordered -storm=false" compares
# ordered with unordered delivery of the same keyed load.
# ARGS="-profile DIR -phases saturation -sat-events 3000" profiles 1:1
# saturation (webhookd pprof, perf of Temporal, pg_stat_statements,
# preloaded below for that run only).
#
# TEMPORAL=cluster (make bench TEMPORAL=cluster ARGS=...): against the real
# Temporal server of make test-cluster instead (scripts/cluster.sh: mTLS,
# PostgreSQL persistence in the bench's PostgreSQL, 4 shards, Temporal on
# 7320-7329, its databases recreated each run); the floor runs on it too.
set -euo pipefail
source "$(dirname "$0")/stack.sh"
CLUSTER=
if [ "${TEMPORAL:-}" = cluster ]; then CLUSTER=1; source "$(dirname "$0")/cluster.sh"; fi
DATA="$ROOT/.data/bench"
mkdir -p "$DATA"
trap stop_started EXIT
trap 'exit 130' INT TERM

PG_PORT=${BENCH_PG_PORT:-55434}
T_PORT=7253
T_UI_PORT=8253
DB=webhooks_bench

if temporal_up "$T_PORT"; then
  log "a Temporal server already answers on 127.0.0.1:$T_PORT (a previous bench?); stop it first:"
  pgrep -af "server start-dev.*--port $T_PORT" >&2 || true
  exit 1
fi

ensure_postgres "$DATA/pg" "$PG_PORT" "$DB"
log "recreating database $DB"
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" postgres
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE \"$DB\"" postgres

# ensure_postgres may have put the cluster elsewhere (see stack.sh): ask it.
PGDATA_DIR=$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SHOW data_directory" postgres)

# -profile reads pg_stat_statements, which must be preloaded; every other run
# goes without it (it costs the backends a little). Changing it restarts the
# bench's own cluster.
want_pss=no
for a in "$@"; do
  case $a in -profile|-profile=*|--profile|--profile=*) want_pss=yes ;; esac
done
preload=$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SHOW shared_preload_libraries" postgres)
has_pss=no
case $preload in *pg_stat_statements*) has_pss=yes ;; esac
if [ "$want_pss" != "$has_pss" ]; then
  if [ "$want_pss" = yes ]; then
    log "-profile: preloading pg_stat_statements (restarting the bench's PostgreSQL)"
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" postgres
  else
    log "unloading pg_stat_statements (restarting the bench's PostgreSQL)"
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "ALTER SYSTEM RESET pg_stat_statements.track_planning" postgres
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "ALTER SYSTEM RESET shared_preload_libraries" postgres
  fi
  as_pg_user pg_ctl -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w -t 60 restart >/dev/null
fi
if [ "$want_pss" = yes ]; then
  # Planning time too (a parameter of the module: settable once it is loaded).
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "ALTER SYSTEM SET pg_stat_statements.track_planning = on" -c "SELECT pg_reload_conf()" postgres >/dev/null
fi

if [ -n "$CLUSTER" ]; then
  T_PORT=7320
  for db in temporal temporal_visibility; do
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" postgres
  done
  start_cluster "$DATA/temporal-cluster" "$PG_PORT" "$T_PORT"
else
  rm -f "$DATA"/temporal-*.db "$DATA"/temporal-*.db-wal "$DATA"/temporal-*.db-shm
  start_temporal "$T_PORT" "$T_UI_PORT" "$DATA/temporal-$(date +%Y%m%d%H%M%S).db"
fi
T_PID=${STARTED_PIDS[-1]}

cd "$ROOT"
log "building .bin/webhookd and .bin/bench"
go build -o "$BIN/webhookd" ./cmd/webhookd
go build -o "$BIN/bench" ./cmd/bench

DATABASE_URL="$PG_URL" \
TEMPORAL_ADDRESS="127.0.0.1:$T_PORT" \
WEBHOOKD_BIN="$BIN/webhookd" \
TEMPORAL_CLI="$BIN/temporal" \
BENCH_PGDATA="$PGDATA_DIR" \
BENCH_TEMPORAL_PID="$T_PID" \
BENCH_LOG_DIR="$DATA" \
BENCH_TEMPORAL="${CLUSTER:+cluster}" \
  "$BIN/bench" "$@"
