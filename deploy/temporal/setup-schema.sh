#!/bin/sh
# Applies Temporal's PostgreSQL schemas with temporal-sql-tool of the server's
# release, as the cluster tests do (deploy/devstack/cluster.go): setup-schema
# -v 0.0 creates the version table (and does nothing where it exists), and
# update-schema applies the versions a database does not have yet, so the
# same job upgrades the schemas before a newer server starts. Runs in the
# admin-tools image; temporal-sql-tool reads SQL_PLUGIN, SQL_HOST, SQL_PORT,
# SQL_USER and SQL_PASSWORD from the environment.
#
#   DBNAME, VISIBILITY_DBNAME   the persistence and visibility databases
set -eu

schema=/etc/temporal/schema/postgresql/v12
for target in "${DBNAME:?} temporal" "${VISIBILITY_DBNAME:?} visibility"; do
  set -- $target
  temporal-sql-tool --db "$1" setup-schema -v 0.0
  temporal-sql-tool --db "$1" update-schema -d "$schema/$2/versioned"
done
