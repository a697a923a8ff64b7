#!/usr/bin/env bash
# Entrypoint of the OFFLINE STAND-IN postgres image: the official image's environment contract, reduced
# to what the stack uses. Runs as root only to fix the data folder's owner, then as `postgres`.
set -euo pipefail
if [[ ${1:-} != postgres ]]; then exec "$@"; fi

if [[ $(id -u) == 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [[ -z ${POSTGRES_PASSWORD:-} ]]; then
  echo "error: POSTGRES_PASSWORD is not set (as the official image, this stand-in needs one)" >&2
  exit 1
fi

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [[ $POSTGRES_DB != postgres ]]; then
    # A private socket and no TCP: healthchecks (pg_isready on $PGHOST) fail until the real server runs.
    initsock=$(mktemp -d)
    postgres -D "$PGDATA" -c listen_addresses='' -c unix_socket_directories="$initsock" &
    pid=$!
    until pg_isready -q -h "$initsock"; do sleep 0.2; done
    psql -v ON_ERROR_STOP=1 -h "$initsock" -U "$POSTGRES_USER" -d postgres \
      -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
    kill -INT "$pid" && wait "$pid" || true
    rmdir "$initsock"
  fi
  echo "stand-in postgres: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "${@:2}"
