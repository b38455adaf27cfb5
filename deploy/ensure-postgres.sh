#!/usr/bin/env bash
# Installs Debian's PostgreSQL server if its binaries are missing. examflow
# never uses the system cluster: it creates a private one under .dev/ (make
# run) or a temporary folder (tests), so the package's own main cluster is not
# created.
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
if compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  # As root, the server runs as the unprivileged postgres user.
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  exit 0
fi
echo "PostgreSQL server binaries not found: installing Debian's postgresql package ..."
$sudo mkdir -p /etc/postgresql-common
if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
  echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || { echo "PostgreSQL install failed" >&2; exit 1; }
