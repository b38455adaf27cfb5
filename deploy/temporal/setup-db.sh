#!/bin/sh
# Creates Temporal's own role and its two databases on the stack's PostgreSQL
# when they do not exist, as the cluster tests do (deploy/devstack/cluster.go),
# and sets the role's password from TEMPORAL_POSTGRES_PASSWORD, so a changed
# password takes effect at the next start. examflow's role owns none of them.
# Runs in the postgres image, connected as the postgres service's superuser
# (PGHOST, PGUSER, PGPASSWORD, PGDATABASE).
#
#   TEMPORAL_ROLE               the role that owns Temporal's databases
#   DBNAME, VISIBILITY_DBNAME   the persistence and visibility databases
set -eu

for v in TEMPORAL_ROLE DBNAME VISIBILITY_DBNAME TEMPORAL_POSTGRES_PASSWORD; do
  eval "value=\${$v-}"
  if [ -z "$value" ]; then
    echo "setup-db.sh: $v is not set" >&2
    exit 1
  fi
done

psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet <<'SQL'
\getenv role TEMPORAL_ROLE
\getenv secret TEMPORAL_POSTGRES_PASSWORD
\getenv db DBNAME
\getenv visdb VISIBILITY_DBNAME
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')
\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'role', :'secret')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', d, :'role')
  FROM unnest(ARRAY[:'db', :'visdb']) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d)
\gexec
SQL
echo "role $TEMPORAL_ROLE owns $DBNAME and $VISIBILITY_DBNAME"
