#!/bin/sh
# Makes the CA of the docker-compose stack and, signed by it, the certificate
# Temporal's frontend serves (and its services present to each other), as the
# cluster tests do with their own CA (deploy/devstack/cluster.go). Runs in the
# postgres image, which has openssl, as root: the CA key stays readable by
# root only, the server's key by the Temporal image's user only, and the CA
# certificate is copied alone into CA_DIR for the clients.
#
# Idempotent: a volume that holds the certificates keeps them, and the
# server's certificate is issued again when it expires within 30 days.
#
#   TLS_DIR       the server's volume (CA key and certificate, server key and certificate)
#   CA_DIR        the clients' volume (the CA certificate only)
#   TLS_NAMES     DNS names of the server's certificate, space-separated
#   TEMPORAL_UID  the user the Temporal server runs as
set -eu

for v in TLS_DIR CA_DIR TLS_NAMES TEMPORAL_UID; do
  eval "value=\${$v-}"
  if [ -z "$value" ]; then
    echo "make-certs.sh: $v is not set" >&2
    exit 1
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

if [ ! -s "$TLS_DIR/ca.pem" ] || [ ! -s "$TLS_DIR/ca.key" ]; then
  cat >"$work/ca.cnf" <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" -days 3650 \
    -subj "/CN=examflow docker-compose CA" -config "$work/ca.cnf" -extensions ca
  rm -f "$TLS_DIR/frontend.pem"
  echo "made a new CA"
fi

if [ ! -s "$TLS_DIR/frontend.pem" ] || [ ! -s "$TLS_DIR/frontend.key" ] ||
  ! openssl x509 -checkend 2592000 -noout -in "$TLS_DIR/frontend.pem" >/dev/null; then
  san=""
  for name in $TLS_NAMES; do
    san="${san:+$san, }DNS:$name"
  done
  cat >"$work/frontend.cnf" <<CNF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $san, IP:127.0.0.1
CNF
  set -- $TLS_NAMES
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$work/frontend.key" -out "$work/frontend.csr" -subj "/CN=$1"
  openssl x509 -req -in "$work/frontend.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 397 -extfile "$work/frontend.cnf" \
    -out "$work/frontend.pem"
  mv "$work/frontend.key" "$TLS_DIR/frontend.key"
  mv "$work/frontend.pem" "$TLS_DIR/frontend.pem"
  echo "issued the server certificate for $TLS_NAMES"
fi

chmod 0600 "$TLS_DIR/ca.key"
chmod 0644 "$TLS_DIR/ca.pem" "$TLS_DIR/frontend.pem"
chown "$TEMPORAL_UID" "$TLS_DIR/frontend.key"
chmod 0400 "$TLS_DIR/frontend.key"
cp "$TLS_DIR/ca.pem" "$CA_DIR/ca.pem"
chmod 0644 "$CA_DIR/ca.pem"
