#!/bin/sh
# The local substitute of postgres:15's docker-entrypoint.sh, the part
# docker-compose.yml relies on: with an empty PGDATA, initdb with
# POSTGRES_USER / POSTGRES_PASSWORD (scram-sha-256 over TCP, trust on the
# socket), then every /docker-entrypoint-initdb.d/*.sql and *.sh on a server
# reachable by socket only; then the server on every address, as postgres.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}" "${POSTGRES_USER:=postgres}"
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?postgres:15 wants POSTGRES_PASSWORD}"
  pw=$(mktemp); printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
  initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pw" -E UTF8 >/dev/null
  rm -f "$pw"
  printf 'local all all trust\nhost all all all scram-sha-256\n' >"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sql) psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -q -f "$f" ;;
      *.sh) . "$f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec "$@"
