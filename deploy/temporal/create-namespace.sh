#!/bin/sh
# Waits for Temporal's frontend (over TLS, trusting the stack's CA) and makes
# the namespace examflow uses with the retention period docs/deployment.md
# recommends, or sets that retention on a namespace that exists. A cluster
# has no namespace until its operator makes one (the dev server makes
# `default` itself). Runs in the admin-tools image.
#
#   TEMPORAL_ADDRESS   the frontend, host:port
#   TLS_CA             the CA certificate the frontend's certificate is signed by
#   NAMESPACE          the namespace
#   RETENTION          how long Temporal keeps a closed run's history, e.g. 720h
set -eu

: "${TEMPORAL_ADDRESS:?}" "${TLS_CA:?}" "${NAMESPACE:?}" "${RETENTION:?}"
set -- --address "$TEMPORAL_ADDRESS" --tls --tls-ca-path "$TLS_CA"

attempt=0
until temporal operator cluster health "$@" >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    temporal operator cluster health "$@"
    echo "create-namespace.sh: Temporal at $TEMPORAL_ADDRESS is not serving after $attempt attempts" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --namespace "$NAMESPACE" "$@" >/dev/null 2>&1; then
  temporal operator namespace update --namespace "$NAMESPACE" --retention "$RETENTION" "$@"
  echo "namespace $NAMESPACE exists; retention set to $RETENTION"
else
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" "$@"
  echo "namespace $NAMESPACE made with retention $RETENTION"
fi
