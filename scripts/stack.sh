# Shared shell functions that bring up the local stack: a private PostgreSQL
# cluster, the Temporal dev server and (for tests) a forward proxy and an
# OpenTelemetry Collector. Sourced by run.sh, test.sh and bench.sh.
# Each function reuses what is already running and records what it started in
# STARTED_PIDS / STARTED_PG so the caller's trap can stop exactly that.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/.bin"
STARTED_PIDS=()
STARTED_PG=()

# The custom search attributes the workflows set; a real cluster needs them too
# (see docs/operations.md).
SEARCH_ATTRIBUTES=(
  WebhookAccountId=Keyword
  WebhookEventType=Keyword
  WebhookTriggerSource=Keyword
  WebhookIds=KeywordList
  WebhookDeliveryStatus=Keyword
  WebhookThrottled=KeywordList
)

log() { printf '\033[1m[stack]\033[0m %s\n' "$*" >&2; }

# ensure_temporal_cli builds the pinned Temporal CLI once into .bin/.
ensure_temporal_cli() {
  if [ -x "$BIN/temporal" ]; then return; fi
  log "building the Temporal CLI (pinned in tools/temporal; a few minutes the first time)"
  mkdir -p "$BIN"
  (cd "$ROOT/tools/temporal" && GOBIN="$BIN" GOFLAGS=-mod=mod go install github.com/temporalio/cli/cmd/temporal)
}

# ensure_lint_tools builds the pinned linters (tools/lint) into .bin/: once,
# and again whenever tools/lint's go.mod or go.sum change.
ensure_lint_tools() {
  local want
  want=$(cat "$ROOT/tools/lint/go.mod" "$ROOT/tools/lint/go.sum" | sha256sum | cut -c1-16)
  if [ -x "$BIN/staticcheck" ] && [ -x "$BIN/workflowcheck" ] &&
    [ "$(cat "$BIN/.lint-tools" 2>/dev/null)" = "$want" ]; then return; fi
  log "building staticcheck and workflowcheck (pinned in tools/lint; about a minute the first time)"
  mkdir -p "$BIN"
  (cd "$ROOT/tools/lint" && GOBIN="$BIN" go install \
    honnef.co/go/tools/cmd/staticcheck go.temporal.io/sdk/contrib/tools/workflowcheck) || return
  echo "$want" >"$BIN/.lint-tools"
}

# run_linters runs staticcheck and Temporal's workflowcheck over the main
# module. workflowcheck follows every function taking a workflow.Context
# (DeliverEvent, ResendDelivery, DeliverBatch and what they call) and fails
# on non-determinism: time.Now, math/rand, goroutines, native channels and
# select, ranging over a map, and so on.
# A finding that is wrong for us gets a commented //lint:ignore or
# //workflowcheck:ignore on that line, never a global switch.
# Both run even when the first fails; any finding fails the call.
run_linters() {
  local rc=0
  ensure_lint_tools || return
  log "staticcheck"
  (cd "$ROOT" && "$BIN/staticcheck" ./...) || rc=1
  log "workflowcheck"
  (cd "$ROOT" && "$BIN/workflowcheck" ./...) || rc=1
  return $rc
}

as_pg_user() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# ensure_postgres DATADIR PORT DBNAME: init (once) and start a private cluster
# on 127.0.0.1:PORT with trust auth, then create DBNAME. Prints nothing; sets
# PG_URL.
ensure_postgres() {
  local dir=$1 port=$2 dbname=$3
  command -v initdb >/dev/null || {
    log "installing PostgreSQL server binaries"
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    export PATH="$PATH:$(ls -d /usr/lib/postgresql/*/bin | tail -1)"
  }
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"; chmod 700 "$dir"
    # The postgres OS user must reach the data dir; a checkout under a private
    # home (/root, mode 700) does not allow that, so fall back to /var/tmp.
    if ! runuser -u postgres -- test -w "$dir"; then
      dir="/var/tmp/esign-webhooks-$(printf '%s' "$dir" | md5sum | cut -c1-10)"
      log "postgres cannot reach the checkout; using $dir for the cluster"
      mkdir -p "$dir"; chown postgres "$dir"; chmod 700 "$dir"
    fi
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "initialising PostgreSQL cluster in $dir"
    as_pg_user initdb -D "$dir" -U postgres --auth=trust --no-instructions -E UTF8 >/dev/null
    cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 256MB
fsync = on
CONF
    # Trust on loopback only: a private development cluster.
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$dir/pg_hba.conf"
  fi
  # Clusters made by older versions of this script ran with
  # synchronous_commit = off, which can lose acknowledged commits on a crash.
  sed -i '/^synchronous_commit = off$/d' "$dir/postgresql.conf"
  if ! as_pg_user pg_ctl -D "$dir" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$port"
    as_pg_user pg_ctl -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
    STARTED_PG+=("$dir")
  fi
  if ! psql -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$dbname'" postgres | grep -q 1; then
    psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE \"$dbname\"" postgres
  fi
  PG_URL="postgres://postgres@127.0.0.1:$port/$dbname?sslmode=disable"
}

# start_temporal PORT UIPORT [DBFILE]: start the dev server unless one answers
# on PORT. With DBFILE, history persists in SQLite (WAL); without, in memory.
start_temporal() {
  local port=$1 uiport=$2 dbfile=${3:-} logfile
  if temporal_up "$port"; then log "Temporal already on 127.0.0.1:$port"; return; fi
  ensure_temporal_cli
  local args=(server start-dev --ip 127.0.0.1 --port "$port" --ui-port "$uiport"
    --log-level warn --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal
    # Let the server hand a workflow's first task to the worker that started it.
    --dynamic-config-value system.enableEagerWorkflowStart=true
)
  for sa in "${SEARCH_ATTRIBUTES[@]}"; do args+=(--search-attribute "$sa"); done
  # TEMPORAL_DEV_ARGS: more flags for the dev server (word-split), e.g. to
  # measure a SQLite pragma with make bench.
  # shellcheck disable=SC2206
  [ -n "${TEMPORAL_DEV_ARGS:-}" ] && args+=(${TEMPORAL_DEV_ARGS})
  if [ -n "$dbfile" ]; then args+=(--db-filename "$dbfile"); logfile="$(dirname "$dbfile")/temporal.log"
  else logfile="${TMPDIR:-/tmp}/temporal-$port.log"; fi
  log "starting Temporal dev server on 127.0.0.1:$port (UI http://127.0.0.1:$uiport)"
  "$BIN/temporal" "${args[@]}" >"$logfile" 2>&1 &
  STARTED_PIDS+=($!)
  wait_up Temporal "$logfile" 120 0.5 temporal_up "$port"
}

# wait_up WHAT LOG TRIES PAUSE CHECK...: waits until CHECK succeeds, at
# most TRIES times PAUSE seconds, while the process started last lives;
# when it dies or never comes up, says so with the end of LOG.
wait_up() {
  local what=$1 logfile=$2 tries=$3 pause=$4
  shift 4
  for _ in $(seq 1 "$tries"); do
    if "$@"; then return; fi
    if ! kill -0 "${STARTED_PIDS[-1]}" 2>/dev/null; then log "$what failed; see $logfile"; tail -20 "$logfile" >&2; return 1; fi
    sleep "$pause"
  done
  log "$what did not come up; see $logfile"; return 1
}

temporal_up() {
  "$BIN/temporal" operator cluster health --address "127.0.0.1:$1" >/dev/null 2>&1
}

# start_proxy DIR PORT USER PASS: Debian's tinyproxy (installed when missing)
# as the egress proxy of DELIVERY_PROXY_URL, on 127.0.0.1:PORT, requiring
# USER:PASS, with its config and log in DIR. It connects out from 127.0.0.2,
# so a receiver on 127.0.0.1 tells tunnelled requests from direct ones. Sets
# PROXY_URL (with the credentials) and PROXY_LOG.
start_proxy() {
  local dir=$1 port=$2 user=$3 pass=$4
  PROXY_URL="http://$user:$pass@127.0.0.1:$port" PROXY_LOG="$dir/tinyproxy.log"
  if port_open "$port"; then log "a proxy already on 127.0.0.1:$port"; return; fi
  ensure_tinyproxy || return
  mkdir -p "$dir"
  # No ConnectPort line: CONNECT may reach any port (test receivers listen
  # on random ones; deliveries go through CONNECT for http:// too).
  cat >"$dir/tinyproxy.conf" <<CONF
Port $port
Listen 127.0.0.1
Bind 127.0.0.2
Allow 127.0.0.1
BasicAuth $user $pass
Timeout 60
MaxClients 200
DisableViaHeader Yes
LogLevel Connect
LogFile "$PROXY_LOG"
PidFile "$dir/tinyproxy.pid"
CONF
  log "starting tinyproxy on 127.0.0.1:$port"
  tinyproxy -d -c "$dir/tinyproxy.conf" >"$dir/tinyproxy.out" 2>&1 &
  STARTED_PIDS+=($!)
  wait_up tinyproxy "$dir/tinyproxy.out" 50 0.1 port_open "$port"
}

# ensure_tinyproxy installs Debian's tinyproxy when it is missing
# (tinyproxy-bin: the program without the system service).
ensure_tinyproxy() {
  command -v tinyproxy >/dev/null && return
  log "installing Debian's tinyproxy for the egress proxy tests"
  apt-get update -qq && apt-get install -y -qq tinyproxy-bin >/dev/null
}

# ensure_otelcol builds the test OpenTelemetry Collector (tools/otelcol: the
# otlp receiver and the file exporter, collector v0.161.0) into .bin/: once,
# and again whenever tools/otelcol's sources, go.mod or go.sum change. The
# first build compiles some hundreds of packages (see docs/tracing.md);
# Go's build cache keeps later ones short.
ensure_otelcol() {
  local want
  want=$(cat "$ROOT/tools/otelcol/go.mod" "$ROOT/tools/otelcol/go.sum" "$ROOT/tools/otelcol/main.go" | sha256sum | cut -c1-16)
  if [ -x "$BIN/otelcol" ] && [ "$(cat "$BIN/.otelcol" 2>/dev/null)" = "$want" ]; then return; fi
  log "building the OpenTelemetry Collector for the tracing tests (tools/otelcol; minutes the first time)"
  mkdir -p "$BIN"
  (cd "$ROOT/tools/otelcol" && go build -trimpath -o "$BIN/otelcol" .) || return
  echo "$want" >"$BIN/.otelcol"
}

# start_otelcol DIR PORT: the test collector receiving OTLP/HTTP on
# 127.0.0.1:PORT (and OTLP/gRPC on PORT+1) and writing every span it gets,
# as OTLP JSON lines, to DIR/traces.jsonl. Sets OTELCOL_ENDPOINT (the base
# URL, for OTEL_EXPORTER_OTLP_ENDPOINT) and OTELCOL_FILE.
start_otelcol() {
  local dir=$1 port=$2
  OTELCOL_ENDPOINT="http://127.0.0.1:$port" OTELCOL_FILE="$dir/traces.jsonl"
  if port_open "$port"; then log "a collector already on 127.0.0.1:$port"; return; fi
  ensure_otelcol || return
  mkdir -p "$dir"
  # No metrics of its own: their default listener (:8888) would clash
  # between stacks on one machine.
  cat >"$dir/otelcol.yaml" <<CONF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$port
      grpc:
        endpoint: 127.0.0.1:$((port + 1))
exporters:
  file:
    path: $OTELCOL_FILE
    flush_interval: 200ms
service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
CONF
  log "starting the OpenTelemetry Collector on 127.0.0.1:$port (spans to $OTELCOL_FILE)"
  "$BIN/otelcol" --config "file:$dir/otelcol.yaml" >"$dir/otelcol.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_up "the collector" "$dir/otelcol.log" 100 0.1 port_open "$port"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop_started stops whatever this script started (trap target).
stop_started() {
  local pid dir
  for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${STARTED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for dir in "${STARTED_PG[@]}"; do as_pg_user pg_ctl -D "$dir" -m fast stop >/dev/null 2>&1 || true; done
  STARTED_PIDS=(); STARTED_PG=()
}
