#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests, from Debian's `postgresql` package.
#
#   pg-test-cluster.sh start DIR PORT   create (if needed) and start a cluster in DIR;
#                                        writes the connection URL to DIR/url (0600)
#   pg-test-cluster.sh halt DIR          stop the server, keep DIR and its data (an outage
#                                        as clients see one)
#   pg-test-cluster.sh resume DIR PORT   start a halted cluster again: same data, same URL
#   pg-test-cluster.sh stop DIR          stop the cluster and delete DIR
#
# The cluster listens on 127.0.0.1:PORT only, with its unix socket inside DIR.
# TCP logins need a password (scram-sha-256) for the generated role `gatehouse`,
# owner of database `gatehouse_test`; the socket admits only the OS user running
# the server (peer). PostgreSQL refuses to run as root, so under root DIR belongs
# to the `postgres` user and the server tools run through `runuser -u postgres`.
#
# Durability is switched off (fsync, synchronous_commit, full_page_writes): the
# data is thrown away after the test run, and this makes start-up and every
# commit fast. Never copy these settings to a real server.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
MARKER=.gatehouse-pg-test-cluster

usage() {
  echo "usage: $0 start DIR PORT | halt DIR | resume DIR PORT | stop DIR" >&2
  exit 2
}

# Runs a server tool as the cluster's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

is_running() {
  [[ -f "$DIR/data/postmaster.pid" ]] &&
    as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

start() {
  if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
    echo "bad port: $PORT" >&2
    exit 2
  fi
  [[ -x "$PG_BIN/initdb" ]] || { echo "PostgreSQL 15 not found in $PG_BIN" >&2; exit 1; }

  if [[ -f "$DIR/url" ]] && is_running; then
    cat "$DIR/url"
    return 0
  fi

  mkdir -p "$DIR"
  chmod 700 "$DIR"
  touch "$DIR/$MARKER"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres:postgres "$DIR"
  fi

  if [[ ! -f "$DIR/data/PG_VERSION" ]]; then
    # --no-sync: nothing here needs to survive a crash.
    as_owner "$PG_BIN/initdb" -D "$DIR/data" --no-sync --no-instructions -E UTF8 --no-locale \
      --auth-local=peer --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1 ||
      { cat "$DIR/initdb.log" >&2; exit 1; }
    as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
shared_buffers = 32MB
EOF
  fi

  as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 \
    -o "-p $PORT" start >/dev/null 2>&1 ||
    { echo "postgres did not start; server log:" >&2; cat "$DIR/server.log" >&2 || true; exit 1; }

  # A fresh password per cluster. Sent on stdin, so it never shows in `ps`.
  local password
  password=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  as_owner "$PG_BIN/psql" -h "$DIR" -p "$PORT" -d postgres -X -q -v ON_ERROR_STOP=1 \
    >/dev/null <<EOF
SET client_min_messages = warning;
DROP DATABASE IF EXISTS gatehouse_test;
DROP ROLE IF EXISTS gatehouse;
CREATE ROLE gatehouse LOGIN PASSWORD '$password';
CREATE DATABASE gatehouse_test OWNER gatehouse;
EOF

  (umask 077 && echo "postgresql://gatehouse:$password@127.0.0.1:$PORT/gatehouse_test" \
    >"$DIR/url")
  cat "$DIR/url"
}

halt() {
  [[ -f "$DIR/$MARKER" ]] || { echo "$DIR is not a test cluster directory" >&2; exit 1; }
  if [[ -f "$DIR/data/postmaster.pid" ]]; then
    as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1
  fi
}

resume() {
  [[ -f "$DIR/$MARKER" && -f "$DIR/url" ]] || { echo "$DIR holds no halted cluster" >&2; exit 1; }
  is_running && return 0
  as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 \
    -o "-p $PORT" start >/dev/null 2>&1 ||
    { echo "postgres did not start; server log:" >&2; cat "$DIR/server.log" >&2 || true; exit 1; }
}

stop() {
  [[ -d "$DIR" ]] || return 0
  # Refuse to delete anything this script did not create.
  [[ -f "$DIR/$MARKER" ]] || { echo "$DIR is not a test cluster directory" >&2; exit 1; }
  if [[ -f "$DIR/data/postmaster.pid" ]]; then
    # immediate: no checkpoint, the data is deleted next anyway.
    as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf -- "$DIR"
}

[[ $# -ge 2 ]] || usage
CMD=$1
DIR=$(realpath -m -- "$2")
case "$CMD" in
  start)
    [[ $# -eq 3 ]] || usage
    PORT=$3
    start
    ;;
  halt)
    [[ $# -eq 2 ]] || usage
    halt
    ;;
  resume)
    [[ $# -eq 3 ]] || usage
    PORT=$3
    resume
    ;;
  stop)
    [[ $# -eq 2 ]] || usage
    stop
    ;;
  *) usage ;;
esac
