#!/usr/bin/env bash
# make test-compose: docker-compose.yml and the Dockerfile, run for real.
#
#  1. Its own Docker engine (Debian's docker.io): dockerd with its data,
#     exec root, socket and PID file under .data/docker, no default bridge,
#     no iptables rules (published ports go through docker-proxy on
#     loopback); stopped by its PID at the end. Never the system's daemon.
#  2. No image is pulled: local bases are built once and cached in that
#     engine (a debootstrapped Debian root filesystem, `docker import`ed),
#     and local substitutes are tagged with the names docker-compose.yml
#     uses (scripts/compose/*.Dockerfile say what each holds and why it is
#     faithful). The webhookd image is built from the Dockerfile with
#     BUILD_IMAGE / RUNTIME_IMAGE set to local bases, without network.
#  3. docker-compose up with an override (.data/compose/override.yml): the
#     project's one network (a subnet and bridge name of its own), the
#     webhookd containers allowed to deliver over http to that subnet, host
#     ports from COMPOSE_*_PORT. Waits until api and workers are healthy.
#  4. From the host: an account (`webhookd accounts create` in the api
#     container), then deploy/compose_test.go: a webhook, three events, each
#     delivered signed to a receiver on the host; the Temporal UI lists them.
#  5. docker-compose down -v, then checks nothing is left: no container,
#     network, volume, bridge or veth interface; after dockerd stops, the
#     same iptables rules and interfaces as before it started.
#
# Ports (host, loopback): COMPOSE_API_PORT (18180), COMPOSE_UI_PORT (18181),
# COMPOSE_TEMPORAL_PORT (18182), COMPOSE_RECEIVER_PORT (18183, on the
# network's gateway); COMPOSE_SUBNET (10.181.80.0/24), COMPOSE_BRIDGE
# (ewh-compose).
set -euo pipefail
source "$(dirname "$0")/stack.sh"
source "$(dirname "$0")/cluster.sh" # ensure_temporal_server
DATA="$ROOT/.data/compose"
DD="$ROOT/.data/docker"
PROJECT=esign-webhooks-test
API_PORT=${COMPOSE_API_PORT:-18180}
UI_PORT=${COMPOSE_UI_PORT:-18181}
TEMPORAL_PORT=${COMPOSE_TEMPORAL_PORT:-18182}
RECEIVER_PORT=${COMPOSE_RECEIVER_PORT:-18183}
SUBNET=${COMPOSE_SUBNET:-10.181.80.0/24}
BRIDGE=${COMPOSE_BRIDGE:-ewh-compose}
GATEWAY=${SUBNET%.*}.1
BASE=local/esign-webhooks-debian:bookworm
GO_BASE=local/esign-webhooks-golang:1.26
STATIC_BASE=local/esign-webhooks-static:nonroot
export DOCKER_HOST="unix://$DD/docker.sock" DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
DOCKER=/usr/bin/docker # Debian's client, the engine's own version
mkdir -p "$DATA" "$DD"
start=$(date +%s)

dk() { "$DOCKER" "$@"; }
compose() {
  API_PORT=$API_PORT TEMPORAL_UI_PORT=$UI_PORT TEMPORAL_PORT=$TEMPORAL_PORT \
    docker-compose -p "$PROJECT" -f "$ROOT/docker-compose.yml" -f "$DATA/override.yml" "$@"
}

ensure_docker() {
  command -v dockerd >/dev/null && command -v docker-compose >/dev/null && command -v debootstrap >/dev/null &&
    [ -x "$DOCKER" ] && return
  log "installing Debian's docker.io, docker-compose and debootstrap"
  apt-get update -qq && apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
}

# host_state: iptables rules (without counters) and network interfaces,
# compared before dockerd starts and after it stops.
host_state() {
  { iptables-save 2>/dev/null || true; } | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
  host_links
}
host_links() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; }

DOCKERD_PID=
start_dockerd() {
  if [ -S "$DD/docker.sock" ] && dk version >/dev/null 2>&1; then
    log "a dockerd already answers on $DD/docker.sock (an earlier run?): stop it first (kill \$(cat $DD/docker.pid))"
    return 1
  fi
  log "starting dockerd (data and exec roots in $DD, no bridge, no iptables)"
  /usr/sbin/dockerd --data-root "$DD/root" --exec-root "$DD/run" --pidfile "$DD/docker.pid" \
    -H "$DOCKER_HOST" --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    --storage-driver overlay2 --log-level warn >"$DD/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 120); do
    dk version >/dev/null 2>&1 && return
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  log "dockerd did not come up; see $DD/dockerd.log"; tail -20 "$DD/dockerd.log" >&2; return 1
}

stop_dockerd() {
  [ -n "$DOCKERD_PID" ] || return 0
  kill "$DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$DOCKERD_PID" 2>/dev/null; then kill -9 "$DOCKERD_PID"; fi
  wait "$DOCKERD_PID" 2>/dev/null || true
  DOCKERD_PID=
}

# image_current NAME KEY: NAME exists and was built from inputs hashing to KEY.
image_current() {
  [ "$(dk image inspect -f '{{index .Config.Labels "esign.inputs"}}' "$1" 2>/dev/null)" = "$2" ]
}

# build_image NAME DOCKERFILE CONTEXT KEY: build unless current (no network).
build_image() {
  local name=$1 file=$2 ctx=$3 key=$4
  image_current "$name" "$key" && return
  log "building $name"
  dk build -q --network none --label "esign.inputs=$key" --build-arg "BASE=$BASE" \
    -f "$file" -t "$name" "$ctx" >/dev/null
}

hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# ensure_base: Debian bookworm by debootstrap (PostgreSQL 15, openssl, CA
# certificates, tzdata), imported once.
ensure_base() {
  local key
  key=$(printf 'bookworm minbase postgresql-15 openssl ca-certificates tzdata' | sha256sum | cut -c1-16)
  image_current "$BASE" "$key" && return
  if [ ! -f "$DATA/rootfs/.complete" ]; then
    log "debootstrap Debian bookworm into $DATA/rootfs (a few minutes, once)"
    rm -rf "$DATA/rootfs.tmp"
    debootstrap --variant=minbase --include=postgresql-15,openssl,ca-certificates,tzdata \
      bookworm "$DATA/rootfs.tmp" http://deb.debian.org/debian >"$DATA/debootstrap.log" 2>&1 ||
      { tail -20 "$DATA/debootstrap.log" >&2; return 1; }
    rm -rf "$DATA/rootfs" && mv "$DATA/rootfs.tmp" "$DATA/rootfs"
    rm -rf "$DATA/rootfs/var/cache/apt/archives"/*.deb "$DATA/rootfs/var/lib/apt/lists"/*
    touch "$DATA/rootfs/.complete"
  fi
  log "importing the Debian root filesystem as $BASE"
  tar -C "$DATA/rootfs" --exclude=./.complete -c . |
    dk import -c "LABEL esign.inputs=$key" -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'CMD ["bash"]' - "$BASE" >/dev/null
}

# ensure_binaries: the Temporal server, SQL tool and CLI of make test-cluster
# (.bin, built once: tools/temporal-server, tools/temporal; they link
# glibc, which the Debian base has) and the Temporal UI server, static
# (tools/compose).
ensure_binaries() {
  local bin=$DATA/bin want
  mkdir -p "$bin"
  ensure_temporal_server && ensure_temporal_cli || return
  want=$(hash_of "$ROOT/tools/compose/go.mod" "$ROOT/tools/compose/go.sum")
  if [ "$(cat "$bin/.ui-server" 2>/dev/null)" != "$want" ]; then
    log "building the Temporal UI server, static (tools/compose)"
    (cd "$ROOT/tools/compose" && CGO_ENABLED=0 go build -trimpath -o "$bin/ui-server" github.com/temporalio/ui-server/v2/cmd/server)
    echo "$want" >"$bin/.ui-server"
  fi
}

# ensure_images: the local bases and the substitutes under the names
# docker-compose.yml uses.
ensure_images() {
  local ctx=$DATA/ctx s=$ROOT/scripts/compose bin=$DATA/bin v ui
  ensure_base
  mkdir -p "$ctx"/{postgres,server,tools,ui,golang,static}
  build_image postgres:15 "$s/postgres.Dockerfile" "$s" "$(hash_of "$s/postgres.Dockerfile" "$s/postgres-entrypoint.sh")"
  # The certs service's alpine needs a shell and openssl: the base has both.
  dk tag "$BASE" alpine:3.20

  cp -f "$BIN/temporal-server" "$BIN/temporal" "$ctx/server/"
  build_image temporalio/server:1.29.1 "$s/temporal-server.Dockerfile" "$ctx/server" \
    "$(hash_of "$s/temporal-server.Dockerfile" "$BIN/.temporal-server" "$BIN/temporal")"
  cp -f "$BIN/temporal-sql-tool" "$ctx/tools/"; ln -f "$ctx/server/temporal" "$ctx/tools/"
  build_image temporalio/admin-tools:1.29.1-tctl-1.18.4-cli-1.5.0 "$s/admin-tools.Dockerfile" "$ctx/tools" \
    "$(hash_of "$s/admin-tools.Dockerfile" "$BIN/.temporal-server" "$BIN/temporal")"

  v=$(awk '$1 == "require" && $2 == "github.com/temporalio/ui-server/v2" {print $3}' "$ROOT/tools/compose/go.mod")
  ui=$(cd "$ROOT/tools/compose" && go list -m -f '{{.Dir}}' github.com/temporalio/ui-server/v2)
  ln -f "$bin/ui-server" "$ctx/ui/"; cp -f "$ui/config/docker.yaml" "$ctx/ui/"
  build_image "temporalio/ui:${v#v}" "$s/ui.Dockerfile" "$ctx/ui" "$(hash_of "$s/ui.Dockerfile" "$bin/.ui-server")"

  # The Dockerfile's bases: the host's Go and the main module's dependencies.
  local gokey
  gokey=$(printf '%s %s' "$(go version)" "$(hash_of "$s/golang.Dockerfile" "$ROOT/go.sum")" | sha256sum | cut -c1-16)
  if ! image_current "$GO_BASE" "$gokey"; then
    log "collecting the main module's dependencies for $GO_BASE"
    rm -rf "$ctx/golang/go" "$ctx/golang/modproxy" "$DATA/gomod"
    (cd "$ROOT" && GOMODCACHE="$DATA/gomod" GOFLAGS=-modcacherw go mod download)
    cp -al "$DATA/gomod/cache/download" "$ctx/golang/modproxy" 2>/dev/null || cp -a "$DATA/gomod/cache/download" "$ctx/golang/modproxy"
    cp -al "$(go env GOROOT)" "$ctx/golang/go" 2>/dev/null || cp -a "$(go env GOROOT)" "$ctx/golang/go"
    build_image "$GO_BASE" "$s/golang.Dockerfile" "$ctx/golang" "$gokey"
  fi
  build_image "$STATIC_BASE" "$s/static.Dockerfile" "$ctx/static" "$(hash_of "$s/static.Dockerfile")"
}

write_override() {
  cat >"$DATA/override.yml" <<YAML
# Written by scripts/compose-test.sh (make test-compose).
x-webhookd: &webhookd
  build:
    context: $ROOT
    args: {BUILD_IMAGE: "$GO_BASE", RUNTIME_IMAGE: "$STATIC_BASE"}
    network: none
  environment:
    # The receiver is the host, on this network's gateway, over http.
    WEBHOOK_ALLOW_HTTP: "true"
    EGRESS_ALLOW_CIDRS: "$SUBNET"
    TEMPORAL_ADDRESS: &temporal passthrough:///temporal:7233
services:
  migrate: *webhookd
  api: *webhookd
  worker-1: *webhookd
  worker-2: *webhookd
  # gRPC's own DNS resolver times out against this engine's embedded DNS,
  # which has no upstream here (the system resolver answers; docs/testing.md):
  # the Temporal clients resolve the same name through the system resolver.
  temporal-setup:
    environment: {TEMPORAL_ADDRESS: *temporal}
  temporal-ui:
    environment: {TEMPORAL_ADDRESS: *temporal}
networks:
  default:
    driver_opts: {com.docker.network.bridge.name: $BRIDGE}
    ipam:
      config: [{subnet: "$SUBNET"}]
YAML
}

# wait_healthy SERVICE...: until each container reports healthy.
wait_healthy() {
  local svc id st
  for svc in "$@"; do
    id=$(compose ps -q "$svc")
    for _ in $(seq 1 600); do
      st=$(dk inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null || echo gone)
      [ "$st" = healthy ] && break
      [ "$st" = gone ] && break
      sleep 1
    done
    [ "$st" = healthy ] || { log "$svc is $st"; return 1; }
  done
}

UP=
cleanup() {
  local rc=$?
  if [ -n "$UP" ]; then
    if [ $rc != 0 ]; then compose ps >&2 || true; compose logs --tail 30 >&2 || true; fi
    compose down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  stop_dockerd
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_docker
before=$(host_state)
links_before=$(host_links)
start_dockerd
ensure_binaries
ensure_images
log "local images ready after $(( $(date +%s) - start )) s"
write_override
export SECRETS_KEY; SECRETS_KEY=$(openssl rand -base64 32) # cleanup's compose calls need it too

log "docker-compose up (project $PROJECT, network $SUBNET on bridge $BRIDGE)"
UP=1
compose up -d --build >"$DATA/up.log" 2>&1 ||
  { tail -30 "$DATA/up.log" >&2; exit 1; }
wait_healthy api worker-1 worker-2
log "api and workers healthy after $(( $(date +%s) - start )) s"

account=$(compose exec -T api /webhookd accounts create --name "compose test" --plan professional)
key=$(sed -n 's/.*"apiKey": *"\([^"]*\)".*/\1/p' <<<"$account")
[ -n "$key" ] || { log "accounts create: $account"; exit 1; }
(cd "$ROOT" && COMPOSE_API_URL="http://127.0.0.1:$API_PORT" COMPOSE_API_KEY="$key" \
  COMPOSE_RECEIVER_ADDR="$GATEWAY:$RECEIVER_PORT" COMPOSE_UI_URL="http://127.0.0.1:$UI_PORT" \
  go test -count=1 -run '^TestComposeDelivers$' -v ./deploy/ | tail -5)

log "docker-compose down -v"
compose down -v --remove-orphans >/dev/null 2>&1
UP=
left="$(dk ps -aq)$(dk volume ls -q)$(dk network ls -q --filter type=custom)"
[ -z "$left" ] || { log "left behind: $(dk ps -a; dk volume ls; dk network ls)"; exit 1; }
if ip link show "$BRIDGE" >/dev/null 2>&1 || [ "$(host_links)" != "$links_before" ]; then
  log "left behind: interfaces $(host_links | xargs)"; exit 1
fi
stop_dockerd
after=$(host_state)
if [ "$before" != "$after" ]; then
  log "the host changed (iptables rules or interfaces):"; diff <(echo "$before") <(echo "$after") >&2; exit 1
fi
log "make test-compose passed in $(( $(date +%s) - start )) s; nothing left behind"
