#!/usr/bin/env bash
# Set up PostgreSQL + PostGIS for detente's storage tests, idempotently.
#
# For a Debian 12 machine (or container, no systemd needed), run as root:
#   export DETENTE_PG_URL="$(scripts/postgis.sh | tail -n 1)"
#   (postgresql://postgres@127.0.0.1:5432/detente_test; progress goes to stderr)
#
# Installs postgresql and the PostGIS package of the installed major version
# when missing, creates and starts the cluster when needed, waits until it
# accepts connections, creates the database (owner postgres) with the postgis
# extension, and prints the URL to export: the only line on stdout (progress
# and apt-get output go to stderr).  Running it again changes nothing.
#
# The URL has no password.  If the server refuses a password-less TCP login
# for postgres on 127.0.0.1 (Debian's default is scram-sha-256), the script
# adds ONE pg_hba.conf line trusting postgres on loopback for the test
# database only, and reloads.  That suits a test machine, not a server:
# set DETENTE_PG_NO_TRUST=1 to skip it and pass a password in the URL instead.
set -euo pipefail

DB="${DETENTE_PG_DB:-detente_test}"
export DEBIAN_FRONTEND=noninteractive

log() { printf 'postgis.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ $EUID -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null; then
  SUDO=(sudo)
else
  die "run as root (apt-get, pg_ctlcluster and pg_hba.conf need it)"
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then
    "${SUDO[@]}" apt-get update -q >&2
    apt_updated=1
  fi
  log "installing $*"
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "$@" >&2
}

# 1. PostgreSQL server, and the PostGIS build for its major version.
if ! installed postgresql && ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
  apt_install postgresql
fi
command -v pg_lsclusters >/dev/null || apt_install postgresql-common

# The cluster to use: an online one if any, else the first, else a new "main"
# for the newest installed server version.
cluster=$(pg_lsclusters --no-header | awk '$4 ~ /^online/ {print $1, $2, $3; exit}')
[[ -n $cluster ]] || cluster=$(pg_lsclusters --no-header | awk 'NR == 1 {print $1, $2, $3}')
if [[ -z $cluster ]]; then
  ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
  [[ -n $ver ]] || die "no PostgreSQL server found under /usr/lib/postgresql"
  log "creating cluster $ver/main"
  "${SUDO[@]}" pg_createcluster "$ver" main >&2
  cluster=$(pg_lsclusters --no-header | awk -v v="$ver" '$1 == v && $2 == "main" {print $1, $2, $3}')
fi
read -r VER NAME PORT <<<"$cluster"
log "using cluster $VER/$NAME on port $PORT"

installed "postgresql-$VER-postgis-3" || apt_install "postgresql-$VER-postgis-3"

# 2. Start it if it is not running, then wait until it accepts connections.
if ! pg_lsclusters --no-header | awk -v v="$VER" -v n="$NAME" '$1 == v && $2 == n' | grep -q online; then
  log "starting cluster $VER/$NAME"
  "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$VER" "$NAME" start >&2
fi
PG_ISREADY="/usr/lib/postgresql/$VER/bin/pg_isready"
for _ in $(seq 1 60); do
  if "$PG_ISREADY" -q -h 127.0.0.1 -p "$PORT"; then break; fi
  sleep 1
done
"$PG_ISREADY" -q -h 127.0.0.1 -p "$PORT" || die "PostgreSQL on 127.0.0.1:$PORT did not come up in 60 s"

# 3. Database and extension, as the postgres OS user over the local socket.
as_postgres() { (cd / && "${SUDO[@]}" runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" "$@"); }
if [[ -z $(as_postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'") ]]; then
  log "creating database $DB"
  as_postgres -d postgres -c "CREATE DATABASE \"$DB\" OWNER postgres"
fi
as_postgres -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS postgis"

# 4. The URL must work as printed: a password-less TCP login for postgres.
URL="postgresql://postgres@127.0.0.1:$PORT/$DB"
tcp_ok() { psql -X -w "$URL" -tAc 'SELECT 1' >/dev/null 2>&1; }
if ! tcp_ok; then
  [[ ${DETENTE_PG_NO_TRUST:-0} == 1 ]] && die "password-less login refused; put a password in the URL"
  hba=$(as_postgres -d postgres -tAc 'SHOW hba_file')
  line="host $DB postgres 127.0.0.1/32 trust  # detente tests (scripts/postgis.sh)"
  if ! "${SUDO[@]}" grep -qF "$line" "$hba"; then
    log "trusting postgres on 127.0.0.1 for database $DB in $hba"
    "${SUDO[@]}" sed -i "1i $line" "$hba"
  fi
  as_postgres -d postgres -tAc 'SELECT pg_reload_conf()' >/dev/null
  sleep 1
  tcp_ok || die "still cannot log in as postgres on 127.0.0.1:$PORT/$DB"
fi

postgis=$(psql -X -w "$URL" -tAc "SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
log "ready: PostgreSQL $VER, PostGIS $postgis, database $DB"
log "export DETENTE_PG_URL=$URL"
# The URL alone is the last line on stdout: DETENTE_PG_URL="$(scripts/postgis.sh | tail -n 1)"
echo "$URL"
