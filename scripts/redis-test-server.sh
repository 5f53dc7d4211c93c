#!/usr/bin/env bash
# A throwaway Redis server for tests, from Debian's `redis-server` package.
#
#   redis-test-server.sh start DIR PORT   start a server for DIR (created if needed)
#   redis-test-server.sh halt DIR         stop the server, keep DIR (a later `start`
#                                         with the same DIR comes back with the same
#                                         password: tests use this to restart Redis)
#   redis-test-server.sh stop DIR         stop the server and delete DIR
#
# The server listens on 127.0.0.1:PORT only, keeps nothing on disk (save "",
# appendonly no) and requires a password generated on first start and written to
# DIR/password (0600). The password sits in DIR/redis.conf (0600), never on a command
# line, so `ps` does not show it. The server daemonizes with its pid in DIR/redis.pid
# and logs to DIR/redis.log. Running as root works (Redis only warns).
set -euo pipefail

REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
REDIS_CLI=${REDIS_CLI:-/usr/bin/redis-cli}
MARKER=.gatehouse-redis-test-server

usage() {
  echo "usage: $0 start DIR PORT | halt DIR | stop DIR" >&2
  exit 2
}

server_pid() {
  [[ -f "$DIR/redis.pid" ]] || return 1
  local pid
  pid=$(<"$DIR/redis.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

answers() {
  REDISCLI_AUTH=$(<"$DIR/password") "$REDIS_CLI" -h 127.0.0.1 -p "$PORT" --no-auth-warning \
    ping 2>/dev/null | grep -q PONG
}

start() {
  if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
    echo "bad port: $PORT" >&2
    exit 2
  fi
  [[ -x "$REDIS_SERVER" ]] || { echo "redis-server not found at $REDIS_SERVER" >&2; exit 1; }

  mkdir -p "$DIR"
  chmod 700 "$DIR"
  touch "$DIR/$MARKER"
  if server_pid >/dev/null && answers; then
    return 0
  fi

  # One password per directory, kept across halt/start so clients can reconnect.
  if [[ ! -s "$DIR/password" ]]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$DIR/password")
  fi
  chmod 600 "$DIR/password"

  (umask 077 && cat >"$DIR/redis.conf" <<EOF
bind 127.0.0.1
port $PORT
protected-mode yes
daemonize yes
pidfile "$DIR/redis.pid"
logfile "$DIR/redis.log"
dir "$DIR"
save ""
appendonly no
requirepass $(<"$DIR/password")
EOF
  )
  rm -f "$DIR/redis.pid"
  "$REDIS_SERVER" "$DIR/redis.conf" >/dev/null 2>&1 ||
    { echo "redis-server did not start; log:" >&2; cat "$DIR/redis.log" >&2 || true; exit 1; }

  for _ in $(seq 1 100); do
    if answers; then
      return 0
    fi
    sleep 0.05
  done
  echo "redis-server does not answer on 127.0.0.1:$PORT; log:" >&2
  cat "$DIR/redis.log" >&2 || true
  exit 1
}

halt() {
  local pid
  pid=$(server_pid) || return 0
  # SIGTERM is Redis' orderly shutdown; with `save ""` it writes nothing.
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$DIR/redis.pid"; return 0; }
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$DIR/redis.pid"
}

stop() {
  [[ -d "$DIR" ]] || return 0
  # Refuse to delete anything this script did not create.
  [[ -f "$DIR/$MARKER" ]] || { echo "$DIR is not a test server directory" >&2; exit 1; }
  halt
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
  stop)
    [[ $# -eq 2 ]] || usage
    stop
    ;;
  *) usage ;;
esac
