#!/bin/sh
# gen-certs.sh DIR SERVER_NAME [EXTRA_DNS_NAME...]: a throwaway CA and the
# certificates for mTLS between webhookd and a Temporal cluster, for tests
# and docker compose (never production: use your PKI, e.g. cert-manager).
#   ca.pem                 the CA (TEMPORAL_TLS_CA; the server's client CA)
#   server.pem/.key        Temporal's frontend, internode and system worker
#                          (serverAuth + clientAuth; SANs: SERVER_NAME,
#                          the extra names, localhost, 127.0.0.1)
#   client.pem/.key        webhookd's client certificate (TEMPORAL_TLS_CERT/KEY)
# EC P-256, valid 30 days. Needs openssl. Used by scripts/cluster.sh and
# docker-compose.yml.
set -eu
dir=$1 name=$2
shift 2
sans="DNS:$name"
for n in "$@"; do sans="$sans,DNS:$n"; done
sans="$sans,DNS:localhost,IP:127.0.0.1"
mkdir -p "$dir"
cd "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=esign-webhooks test CA" -keyout ca.key -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
issue() { # name CN extensions
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue server "$name" "subjectAltName=$sans
extendedKeyUsage=serverAuth,clientAuth
keyUsage=critical,digitalSignature"
issue client webhookd "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
# Containers run as other users: the keys are readable by the group (compose
# mounts the volume read-only into the server and webhookd).
chmod 644 ca.pem server.pem client.pem
chmod 640 server.key client.key
