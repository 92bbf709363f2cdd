#!/usr/bin/env bash
# Makes a streaming read replica of the local PostgreSQL server, for the test of DATABASE_READ_URL
# (test/e2e/replica.test.ts): a second cluster of the same PostgreSQL version, on another port,
# started from `pg_basebackup -R` as a hot standby of the first. Run as root or as postgres on
# the machine of the server. Any replica this script made before is stopped and made anew.
#
#   PRIMARY_URL   the server to replicate (default postgres://postgres@127.0.0.1:5432/postgres)
#   REPLICA_PORT  the replica's port (default 5433)
#   REPLICA_DIR   its data directory (default /var/tmp/milepost-replica)
#
# Prints the replica's URL for the `test` database on its last line. `replica.sh stop` stops the
# replica and removes its directory.
set -euo pipefail

PRIMARY_URL="${PRIMARY_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REPLICA_PORT="${REPLICA_PORT:-5433}"
REPLICA_DIR="${REPLICA_DIR:-/var/tmp/milepost-replica}"

psql_primary() { psql "$PRIMARY_URL" -XAtqc "$1"; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_replica() {
  if [ -f "$REPLICA_DIR/postmaster.pid" ]; then
    as_postgres "$1/pg_ctl" -D "$REPLICA_DIR" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$REPLICA_DIR"
}

version="$(psql_primary 'show server_version_num')"
major="$((version / 10000))"
bin="/usr/lib/postgresql/$major/bin"
[ -x "$bin/pg_basebackup" ] || { echo "replica: no $bin/pg_basebackup for PostgreSQL $major" >&2; exit 1; }

if [ "${1:-}" = stop ]; then
  stop_replica "$bin"
  exit 0
fi

# The primary must accept replication connections from this machine.
hba="$(psql_primary 'show hba_file')"
if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32' "$hba"; then
  echo "host replication all 127.0.0.1/32 trust" >> "$hba"
  psql_primary 'select pg_reload_conf()' >/dev/null
fi

# A replica left by an earlier run is stopped and removed.
stop_replica "$bin"
mkdir -p "$REPLICA_DIR"
chown postgres:postgres "$REPLICA_DIR" 2>/dev/null || true
chmod 700 "$REPLICA_DIR"

host_port="${PRIMARY_URL#*@}"
host_port="${host_port%%/*}"
as_postgres "$bin/pg_basebackup" -h "${host_port%%:*}" -p "${host_port##*:}" -U postgres -D "$REPLICA_DIR" -R -X stream -c fast

# Debian keeps the server's configuration outside its data directory: the replica gets its own,
# with the settings a standby may not have lower than its primary.
{
  echo "port = $REPLICA_PORT"
  echo "listen_addresses = '127.0.0.1'"
  echo "unix_socket_directories = '$REPLICA_DIR'"
  echo "hot_standby = on"
  echo "shared_buffers = 64MB"
  for setting in max_connections max_worker_processes max_wal_senders max_prepared_transactions max_locks_per_transaction; do
    echo "$setting = $(psql_primary "show $setting")"
  done
} > "$REPLICA_DIR/postgresql.conf"
cat > "$REPLICA_DIR/pg_hba.conf" <<CONF
local all all trust
host all all 127.0.0.1/32 trust
CONF
: > "$REPLICA_DIR/pg_ident.conf"
chown postgres:postgres "$REPLICA_DIR"/*.conf 2>/dev/null || true

as_postgres "$bin/pg_ctl" -D "$REPLICA_DIR" -l "$REPLICA_DIR/replica.log" -w start >/dev/null
replica="postgres://postgres@127.0.0.1:$REPLICA_PORT/test"
[ "$(psql "$replica" -XAtqc 'select pg_is_in_recovery()')" = t ] || { echo "replica: the server on $REPLICA_PORT is not a standby" >&2; exit 1; }
echo "$replica"
