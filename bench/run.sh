#!/usr/bin/env bash
# Gatehouse next to nginx `return 200` and a Node.js forward-auth peer, all from one run on
# this machine, printed as one table with the ratios and their goals:
#   - /healthz next to nginx `return 200`, over HTTP and HTTPS;
#   - GET /v1/auth/verify with a valid HS256 and a valid EdDSA access token, next to nginx
#     and next to bench/node-peer (fastify + jose + rate-limit + helmet) checking the same
#     token, over HTTP and HTTPS;
#   - GET /v1/auth/verify with a valid API key (X-API-Key) next to the same with the HS256
#     token, over HTTP and HTTPS: the key is cached after its first use, so the row
#     measures the hit path, which reads no database (the revocation marker, the per-key
#     limit and the usage count are all in memory);
#   - POST /v1/auth/login with the default argon2id cost, next to the raw argon2id verify
#     rate on the same core (bench/argon2_rate);
#   - Gatehouse's idle memory.
# Every server under test gets core 0 (Gatehouse with one I/O thread and one worker), the load
# generator (wrk) core 1.
#
#   bench/run.sh path/to/gatehouse [path/to/argon2_rate]
#   BENCH_DURATION (4s per run of a row), BENCH_ROUNDS (3 runs of each row, the best kept),
#   BENCH_LIMITER_ROUNDS (5 side-by-side runs for the limiter's cost),
#   BENCH_CONNECTIONS (64), BENCH_LOGIN_CONNECTIONS (4)
set -euo pipefail
BIN="$(realpath "${1:?usage: bench/run.sh path/to/gatehouse [path/to/argon2_rate]}")"
ARGON2_RATE="$(realpath "${2:-$(dirname "$BIN")/bench/argon2_rate}")"
DURATION="${BENCH_DURATION:-4s}"
ROUNDS="${BENCH_ROUNDS:-3}"
LIMITER_ROUNDS="${BENCH_LIMITER_ROUNDS:-5}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
LOGIN_CONNECTIONS="${BENCH_LOGIN_CONNECTIONS:-4}"
ARGON2_SECONDS=5
BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
PEER_DIR="$BENCH_DIR/node-peer"
WORK="$(mktemp -d /tmp/gatehouse-bench.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "bench: $*" >&2
  exit 1
}

[ -x "$ARGON2_RATE" ] || fail "$ARGON2_RATE not found (built by bench/CMakeLists.txt)"

# The Node peer: fastify 5 needs Node.js 20 or later. npm ci installs exactly the locked tree;
# it is skipped while node_modules is newer than the lock file (npm ci writes
# node_modules/.package-lock.json last, so it marks a complete install).
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
  fail "node and npm are needed for the Node.js peer (scripts/install-deps.sh bench)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || fail "the Node.js peer needs Node.js >= 20, found $(node --version)"
if [ ! -f "$PEER_DIR/node_modules/.package-lock.json" ] ||
  [ "$PEER_DIR/package-lock.json" -nt "$PEER_DIR/node_modules/.package-lock.json" ]; then
  echo "bench: installing bench/node-peer dependencies (npm ci)"
  (cd "$PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    fail "npm ci failed in bench/node-peer"
fi

NEXT_PORT=$((20000 + RANDOM % 30000))
free_port() {  # sets PORT to a loopback port nobody listens on
  while ss -ltnH "sport = :$NEXT_PORT" | grep -q .; do NEXT_PORT=$((NEXT_PORT + 1)); done
  PORT=$NEXT_PORT
  NEXT_PORT=$((NEXT_PORT + 1))
}

wait_for() {  # url
  for _ in $(seq 1 150); do
    curl -sk -o /dev/null "$1" && return 0
    sleep 0.1
  done
  fail "$1 did not come up"
}

rss_kib() {  # pid
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# Key material: the development setup (master key, self-signed certificate), plus an HS256
# secret without the development marker (so the Node peer reads the same bytes Gatehouse
# uses) and an Ed25519 signing key.
umask 077
bash "$BENCH_DIR/../scripts/dev-setup.sh" "$WORK/var" >/dev/null
CERT="$WORK/var/tls/cert.pem"
CERT_KEY="$WORK/var/tls/key.pem"
HMAC_KEY="$WORK/var/keys/bench-hmac.key"
ED_KEY="$WORK/var/keys/bench-ed25519.pem"
openssl rand -hex 32 > "$HMAC_KEY"
openssl genpkey -algorithm ed25519 -out "$ED_KEY" 2>/dev/null

# nginx: one worker, no access log, keep-alive without reconnects.
free_port; NGINX_HTTP=$PORT; free_port; NGINX_HTTPS=$PORT
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$NGINX_HTTP;
    listen 127.0.0.1:$NGINX_HTTPS ssl;
    ssl_certificate $CERT;
    ssl_certificate_key $CERT_KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200; }
  }
}
NGINX
taskset -c 0 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)

# Gatehouse: one I/O thread and one worker on core 0, development profile, its own database.
# The argon2id cost is written out at its default so the login row measures that cost even if
# the development setup changes. Every login opens a session. At the default limit (5) every
# login of the row would also evict one, which cost about a third of the login rate when this
# bench was written; 1000 keeps eviction out of the row (three 4 s runs make some 600
# sessions, spread over the row's accounts).
# Rate limits are on, as in production, with limits no bench row reaches (65535 per 100 ms
# is 655,350 requests/s from the one client address): the rows pay for every decision and
# never see a 429. One more instance runs with the limiter off, for the cost of the limiter.
start_gatehouse() {  # name tls(true|false) port algorithm(HS256|EdDSA) [limits(on|off)]
  local cfg="$WORK/var/$1.toml" key_line limits=${5:-on}
  if [ "$4" = HS256 ]; then
    key_line="hmac_secret_file = \"keys/bench-hmac.key\""
  else
    key_line="signing_key_file = \"keys/bench-ed25519.pem\""
  fi
  cat > "$cfg" <<TOML
profile = "development"

[server]
listen = "127.0.0.1"
port = $3
tls = $2
cert_file = "tls/cert.pem"
key_file = "tls/key.pem"
redirect_port = 0
io_threads = 1
worker_threads = 1

[log]
level = "warn"
access_log = "off"

[crypto]
master_key_file = "keys/master.key"
argon2_memory_kib = 19456
argon2_iterations = 2
argon2_parallelism = 1

[tokens]
algorithm = "$4"
$key_line

[sessions]
max_per_user = 1000
limit_policy = "evict_oldest"

[rate_limit]
enabled = $([ "$limits" = on ] && echo true || echo false)
default = "65535/100ms"
protected = "65535/100ms"
auth = "65535/100ms"
registration = "65535/100ms"
api_key = "65535/100ms"

[store]
driver = "sqlite"
sqlite_path = "$1.db"
TOML
  GATEHOUSE_LOG_LEVEL=warn taskset -c 0 "$BIN" serve --config "$cfg" \
    >"$WORK/$1.out" 2>&1 &
  GH_PID=$!
  PIDS+=("$GH_PID")
}
free_port; GH_HS_HTTP=$PORT; free_port; GH_HS_HTTPS=$PORT
free_port; GH_ED_HTTP=$PORT; free_port; GH_ED_HTTPS=$PORT
free_port; GH_OFF_HTTP=$PORT
start_gatehouse hs-http false "$GH_HS_HTTP" HS256
start_gatehouse hs-http-nolimit false "$GH_OFF_HTTP" HS256 off
start_gatehouse hs-https true "$GH_HS_HTTPS" HS256
GH_HTTPS_PID=$GH_PID
start_gatehouse ed-http false "$GH_ED_HTTP" EdDSA
start_gatehouse ed-https true "$GH_ED_HTTPS" EdDSA

wait_for "http://127.0.0.1:$NGINX_HTTP/"
wait_for "https://127.0.0.1:$NGINX_HTTPS/"
wait_for "http://127.0.0.1:$GH_HS_HTTP/healthz"
wait_for "https://127.0.0.1:$GH_HS_HTTPS/healthz"
wait_for "http://127.0.0.1:$GH_ED_HTTP/healthz"
wait_for "http://127.0.0.1:$GH_OFF_HTTP/healthz"
wait_for "https://127.0.0.1:$GH_ED_HTTPS/healthz"

# The Node peer, one process per algorithm and transport, on core 0. The EdDSA peer gets the
# public key Gatehouse publishes.
curl -sf "http://127.0.0.1:$GH_ED_HTTP/.well-known/jwks.json" > "$WORK/jwks.json" ||
  fail "could not read the JWKS of the EdDSA gatehouse"
start_peer() {  # name alg key-file port [tls]
  local tls_args=()
  [ "${5:-}" = tls ] && tls_args=(--cert "$CERT" --tls-key "$CERT_KEY")
  taskset -c 0 node "$PEER_DIR/server.mjs" --port "$4" --alg "$2" --key "$3" \
    "${tls_args[@]}" >"$WORK/$1.out" 2>&1 &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
}
free_port; NODE_HS_HTTP=$PORT; free_port; NODE_HS_HTTPS=$PORT
free_port; NODE_ED_HTTP=$PORT; free_port; NODE_ED_HTTPS=$PORT
start_peer node-hs-http HS256 "$HMAC_KEY" "$NODE_HS_HTTP"
start_peer node-hs-https HS256 "$HMAC_KEY" "$NODE_HS_HTTPS" tls
NODE_HTTPS_PID=$PEER_PID
start_peer node-ed-http EdDSA "$WORK/jwks.json" "$NODE_ED_HTTP"
start_peer node-ed-https EdDSA "$WORK/jwks.json" "$NODE_ED_HTTPS" tls
wait_for "http://127.0.0.1:$NODE_HS_HTTP/v1/auth/verify"
wait_for "https://127.0.0.1:$NODE_HS_HTTPS/v1/auth/verify"
wait_for "http://127.0.0.1:$NODE_ED_HTTP/v1/auth/verify"
wait_for "https://127.0.0.1:$NODE_ED_HTTPS/v1/auth/verify"

# Accounts and tokens. Sessions are bound to a fingerprint of User-Agent and Accept-Language;
# wrk sends neither, so every curl here removes User-Agent (curl sends no Accept-Language):
# a token issued to another fingerprint would end its session on the first verification.
post_json() {  # url body -> sets HTTP_CODE and HTTP_BODY
  local out
  out="$(curl -sk -H 'User-Agent:' -H 'Content-Type: application/json' -d "$2" \
    -w '\n%{http_code}' "$1")" || fail "POST $1 failed"
  HTTP_CODE="${out##*$'\n'}"
  HTTP_BODY="${out%$'\n'*}"
}
LOGIN_PASSWORD="Gh-Bench-Pass-7431!"
register_and_login() {  # base-url email -> sets TOKEN
  local body="{\"email\":\"$2\",\"password\":\"$LOGIN_PASSWORD\"}"
  post_json "$1/v1/auth/register" "$body"
  [ "$HTTP_CODE" = 201 ] || fail "register at $1 answered $HTTP_CODE: $HTTP_BODY"
  post_json "$1/v1/auth/login" "$body"
  [ "$HTTP_CODE" = 200 ] || fail "login at $1 answered $HTTP_CODE: $HTTP_BODY"
  TOKEN="$(grep -o '"access_token":"[^"]*"' <<<"$HTTP_BODY" | cut -d'"' -f4)"
  [ -n "$TOKEN" ] || fail "login at $1 answered no access_token"
}
expect_verified() {  # url token: one verification must answer 200 before it is measured
  local code
  code="$(curl -sk -o "$WORK/verify.body" -w '%{http_code}' -H 'User-Agent:' \
    -H "Authorization: Bearer $2" "$1")" || fail "GET $1 failed"
  [ "$code" = 200 ] || fail "GET $1 with a valid token answered $code: $(cat "$WORK/verify.body")"
}
register_and_login "http://127.0.0.1:$GH_HS_HTTP" verify@example.com
HS_HTTP_TOKEN=$TOKEN
register_and_login "http://127.0.0.1:$GH_OFF_HTTP" verify@example.com
OFF_HTTP_TOKEN=$TOKEN
register_and_login "https://127.0.0.1:$GH_HS_HTTPS" verify@example.com
HS_HTTPS_TOKEN=$TOKEN
register_and_login "http://127.0.0.1:$GH_ED_HTTP" verify@example.com
ED_HTTP_TOKEN=$TOKEN
register_and_login "https://127.0.0.1:$GH_ED_HTTPS" verify@example.com
ED_HTTPS_TOKEN=$TOKEN
# The login row signs in to accounts of its own, so its sessions never evict the verify
# session, and to many of them in turn: a real sign-in finds a handful of sessions on its
# account, while one account taking every login of the row would pile up hundreds, each
# read by the session-limit check (that made the row measure the pile, not the login).
LOGIN_ACCOUNTS=100
for i in $(seq 1 "$LOGIN_ACCOUNTS"); do
  post_json "http://127.0.0.1:$GH_HS_HTTP/v1/auth/register" \
    "{\"email\":\"login-$i@example.com\",\"password\":\"$LOGIN_PASSWORD\"}"
  [ "$HTTP_CODE" = 201 ] || fail "register login-$i answered $HTTP_CODE: $HTTP_BODY"
done

# API keys, made by the verify accounts (the token of the account signed in last there).
create_api_key() {  # base-url token -> sets API_KEY
  local out code body
  out="$(curl -sk -H 'User-Agent:' -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $2" -d '{"name":"bench","scopes":["bench:verify"]}' \
    -w '\n%{http_code}' "$1/v1/apikeys")" || fail "POST $1/v1/apikeys failed"
  code="${out##*$'\n'}"
  body="${out%$'\n'*}"
  [ "$code" = 201 ] || fail "creating an API key at $1 answered $code: $body"
  API_KEY="$(grep -o '"key":"[^"]*"' <<<"$body" | cut -d'"' -f4)"
  [ -n "$API_KEY" ] || fail "$1 answered no API key"
}
create_api_key "http://127.0.0.1:$GH_HS_HTTP" "$HS_HTTP_TOKEN"
KEY_HTTP=$API_KEY
create_api_key "https://127.0.0.1:$GH_HS_HTTPS" "$HS_HTTPS_TOKEN"
KEY_HTTPS=$API_KEY
expect_key_verified() {  # url key
  local code
  code="$(curl -sk -o "$WORK/verify.body" -w '%{http_code}' -H "X-API-Key: $2" "$1")" ||
    fail "GET $1 failed"
  [ "$code" = 200 ] || fail "GET $1 with a valid API key answered $code: $(cat "$WORK/verify.body")"
}

expect_verified "http://127.0.0.1:$GH_HS_HTTP/v1/auth/verify" "$HS_HTTP_TOKEN"
expect_key_verified "http://127.0.0.1:$GH_HS_HTTP/v1/auth/verify" "$KEY_HTTP"
expect_key_verified "https://127.0.0.1:$GH_HS_HTTPS/v1/auth/verify" "$KEY_HTTPS"
expect_verified "http://127.0.0.1:$GH_OFF_HTTP/v1/auth/verify" "$OFF_HTTP_TOKEN"
expect_verified "https://127.0.0.1:$GH_HS_HTTPS/v1/auth/verify" "$HS_HTTPS_TOKEN"
expect_verified "http://127.0.0.1:$GH_ED_HTTP/v1/auth/verify" "$ED_HTTP_TOKEN"
expect_verified "https://127.0.0.1:$GH_ED_HTTPS/v1/auth/verify" "$ED_HTTPS_TOKEN"
expect_verified "http://127.0.0.1:$NODE_HS_HTTP/v1/auth/verify" "$HS_HTTP_TOKEN"
expect_verified "https://127.0.0.1:$NODE_HS_HTTPS/v1/auth/verify" "$HS_HTTP_TOKEN"
expect_verified "http://127.0.0.1:$NODE_ED_HTTP/v1/auth/verify" "$ED_HTTP_TOKEN"
expect_verified "https://127.0.0.1:$NODE_ED_HTTPS/v1/auth/verify" "$ED_HTTP_TOKEN"

cat > "$WORK/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local accounts, next_account = $LOGIN_ACCOUNTS, 0
request = function()
  next_account = next_account % accounts + 1
  return wrk.format(nil, nil, nil,
    '{"email":"login-' .. next_account .. '@example.com","password":"$LOGIN_PASSWORD"}')
end
LUA

sleep 1
idle_rss_kib="$(rss_kib "$GH_HTTPS_PID")"
node_idle_rss_kib="$(rss_kib "$NODE_HTTPS_PID")"

# One measurement: "req/s p50 p99". Any non-2xx answer or socket error fails the bench: a
# row of 401s or timeouts measures something else.
measure() {  # url connections [wrk options...]
  local url=$1 conns=$2 out
  shift 2
  out="$(taskset -c 1 wrk -t1 -c"$conns" -d"$DURATION" --latency "$@" "$url")"
  if grep -q -e '^ *Non-2xx' -e '^ *Socket errors' <<<"$out"; then
    fail "errors while measuring $url:"$'\n'"$out"
  fi
  awk '/^Requests\/sec:/ {rps = $2} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
       END {print rps, p50, p99}' <<<"$out"
}
declare -A RPS P50 P99
# Other work on the machine skews the figures; compilers are the usual culprit on a
# development machine, so rows that begin or end while one runs are named in a warning (a
# compile that fits inside a row goes unseen).
BUSY_ROWS=()
note_busy() {  # key
  [[ " ${BUSY_ROWS[*]} " == *" $1 "* ]] && return 0
  if pgrep -x 'cc1.*|ld|lld' >/dev/null; then BUSY_ROWS+=("$1"); fi
}
# A row keeps the best of its rounds (requests/s, with that run's latencies). On a virtual
# machine the same row measured twice in a row can differ by 15 to 20 percent, in spells
# of some seconds; the rows of a round run one after another, so a slow spell lowers one
# run of a row, not every run of it, and all rows, nginx's included, get the same tries.
row() {  # key url connections [wrk options...]
  local key=$1 figures rps p50 p99
  shift
  note_busy "$key"
  figures="$(measure "$@")" || exit 1
  note_busy "$key"
  read -r rps p50 p99 <<<"$figures"
  if [ -z "${RPS[$key]:-}" ] || awk -v a="$rps" -v b="${RPS[$key]}" 'BEGIN {exit !(a > b)}'
  then
    RPS[$key]=$rps P50[$key]=$p50 P99[$key]=$p99
  fi
}
auth() { echo "Authorization: Bearer $1"; }
limiter_on() {
  row hs_http "http://127.0.0.1:$GH_HS_HTTP/v1/auth/verify" "$CONNECTIONS" \
    -H "$(auth "$HS_HTTP_TOKEN")"
}
limiter_off() {
  row off_http "http://127.0.0.1:$GH_OFF_HTTP/v1/auth/verify" "$CONNECTIONS" \
    -H "$(auth "$OFF_HTTP_TOKEN")"
}

for round in $(seq "$ROUNDS"); do
  row nginx_http "http://127.0.0.1:$NGINX_HTTP/" "$CONNECTIONS"
  row health_http "http://127.0.0.1:$GH_HS_HTTP/healthz" "$CONNECTIONS"
  limiter_on
  limiter_off
  row key_http "http://127.0.0.1:$GH_HS_HTTP/v1/auth/verify" "$CONNECTIONS" \
    -H "X-API-Key: $KEY_HTTP"
  row node_hs_http "http://127.0.0.1:$NODE_HS_HTTP/v1/auth/verify" "$CONNECTIONS" \
    -H "$(auth "$HS_HTTP_TOKEN")"
  row ed_http "http://127.0.0.1:$GH_ED_HTTP/v1/auth/verify" "$CONNECTIONS" \
    -H "$(auth "$ED_HTTP_TOKEN")"
  row node_ed_http "http://127.0.0.1:$NODE_ED_HTTP/v1/auth/verify" "$CONNECTIONS" \
    -H "$(auth "$ED_HTTP_TOKEN")"
  row nginx_https "https://127.0.0.1:$NGINX_HTTPS/" "$CONNECTIONS"
  row health_https "https://127.0.0.1:$GH_HS_HTTPS/healthz" "$CONNECTIONS"
  row hs_https "https://127.0.0.1:$GH_HS_HTTPS/v1/auth/verify" "$CONNECTIONS" \
    -H "$(auth "$HS_HTTPS_TOKEN")"
  row key_https "https://127.0.0.1:$GH_HS_HTTPS/v1/auth/verify" "$CONNECTIONS" \
    -H "X-API-Key: $KEY_HTTPS"
  row node_hs_https "https://127.0.0.1:$NODE_HS_HTTPS/v1/auth/verify" "$CONNECTIONS" \
    -H "$(auth "$HS_HTTP_TOKEN")"
  row ed_https "https://127.0.0.1:$GH_ED_HTTPS/v1/auth/verify" "$CONNECTIONS" \
    -H "$(auth "$ED_HTTPS_TOKEN")"
  row node_ed_https "https://127.0.0.1:$NODE_ED_HTTPS/v1/auth/verify" "$CONNECTIONS" \
    -H "$(auth "$ED_HTTP_TOKEN")"

  # Logins: the raw argon2id rate on the server's core, then the server doing the same work
  # plus the session and the tokens.
  note_busy argon2
  argon2_out="$(taskset -c 0 "$ARGON2_RATE" "$ARGON2_SECONDS")" || fail "argon2_rate failed"
  note_busy argon2
  read -r rate _ <<<"$argon2_out"
  argon2_rate=$(awk -v a="$rate" -v b="${argon2_rate:-0}" 'BEGIN {print (a > b ? a : b)}')
  row login "http://127.0.0.1:$GH_HS_HTTP/v1/auth/login" "$LOGIN_CONNECTIONS" \
    -s "$WORK/login.lua"
done
busy_rss_kib="$(rss_kib "$GH_HTTPS_PID")"

# The limiter's cost is a question of a few percent, and this machine's speed moves by 15 to
# 20 percent in spells of seconds: two rows measured one after the other can land in
# different spells, which swamps the answer. So the instances with the limiter on and off
# are loaded at the same time, for the same seconds: they share core 0 (and their clients
# core 1), the scheduler gives each the same share of it, and a slow spell slows both. The
# ratio of their rates is then the ratio of their costs per request. Each round swaps which
# client starts first; the cost is the median of the rounds.
side_on() {
  measure "http://127.0.0.1:$GH_HS_HTTP/v1/auth/verify" "$CONNECTIONS" \
    -H "$(auth "$HS_HTTP_TOKEN")" >"$WORK/limiter.on"
}
side_off() {
  measure "http://127.0.0.1:$GH_OFF_HTTP/v1/auth/verify" "$CONNECTIONS" \
    -H "$(auth "$OFF_HTTP_TOKEN")" >"$WORK/limiter.off"
}
LIMITER_RATIOS=()
for round in $(seq "$LIMITER_ROUNDS"); do
  note_busy limiter
  if [ $((round % 2)) = 1 ]; then
    side_on & first=$!
    side_off & second=$!
  else
    side_off & first=$!
    side_on & second=$!
  fi
  wait "$first" || fail "a side-by-side limiter run failed"
  wait "$second" || fail "a side-by-side limiter run failed"
  note_busy limiter
  read -r on_rps _ <"$WORK/limiter.on"
  read -r off_rps _ <"$WORK/limiter.off"
  LIMITER_RATIOS+=("$(awk -v a="$on_rps" -v b="$off_rps" 'BEGIN {printf "%.3f", a / b}')")
done

# Context for the EdDSA rows: one Ed25519 signature check per request bounds them, whatever
# the server does around it.
ed25519_rate="$(taskset -c 0 openssl speed -seconds 2 ed25519 2>/dev/null |
  awk '/Ed25519\)/ {print $NF}')"

# The table. A ratio cell reads "0.93 nginx >=0.9 ok": the ratio, what it is measured
# against, the goal, and whether the goal is met.
ratio() {  # value reference what goal
  awk -v a="$1" -v b="$2" -v what="$3" -v goal="$4" 'BEGIN {
    r = (b > 0 ? a / b : 0)
    printf "%.2f %s >=%s %s", r, what, goal, (r >= goal ? "ok" : "MISSED")
  }'
}
line() {  # label key [ratio cells...]
  local label=$1 key=$2
  shift 2
  printf '%-30s %11s %9s %9s' "$label" "${RPS[$key]}" "${P50[$key]}" "${P99[$key]}"
  [ $# -gt 0 ] && printf '   %-24s' "$@" | sed 's/ *$//'
  echo
}
echo
echo "gatehouse bench: $CONNECTIONS connections ($LOGIN_CONNECTIONS for login), $DURATION per run,"
echo "best of $ROUNDS runs per row; servers on core 0 (gatehouse: one I/O thread, one worker;"
echo "node: one process), wrk on core 1"
printf '%-30s %11s %9s %9s   %s\n' "target" "requests/s" "p50" "p99" "ratios (goal)"
for t in http https; do
  line "nginx return 200 ($t)" "nginx_$t"
  line "gatehouse /healthz ($t)" "health_$t" \
    "$(ratio "${RPS[health_$t]}" "${RPS[nginx_$t]}" nginx 0.9)"
  line "gatehouse verify HS256 ($t)" "hs_$t" \
    "$(ratio "${RPS[hs_$t]}" "${RPS[nginx_$t]}" nginx 0.8)" \
    "$(ratio "${RPS[hs_$t]}" "${RPS[node_hs_$t]}" node 6)"
  line "node verify HS256 ($t)" "node_hs_$t"
  # The same check with an API key instead of the token: goal at least 0.9 of the token row.
  line "gatehouse verify API key ($t)" "key_$t" \
    "$(ratio "${RPS[key_$t]}" "${RPS[nginx_$t]}" nginx 0.8)" \
    "$(ratio "${RPS[key_$t]}" "${RPS[hs_$t]}" jwt 0.9)"
  line "gatehouse verify EdDSA ($t)" "ed_$t" \
    "$(ratio "${RPS[ed_$t]}" "${RPS[nginx_$t]}" nginx 0.8)" \
    "$(ratio "${RPS[ed_$t]}" "${RPS[node_ed_$t]}" node 6)"
  line "node verify EdDSA ($t)" "node_ed_$t"
done
# The limiter's cost: the same verify row with the limiter off. Goal: on/off at least 0.97.
line "verify HS256, limiter off (http)" off_http
limiter_median="$(printf '%s\n' "${LIMITER_RATIOS[@]}" | sort -n |
  awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}')"
echo "rate limiter on/off for verify HS256 (http), both loaded at once, median of" \
  "$LIMITER_ROUNDS rounds (${LIMITER_RATIOS[*]}): $(ratio "$limiter_median" 1 off 0.97)"
printf '%-30s %11s\n' "argon2id verify (core 0)" "$argon2_rate"
line "gatehouse login (http)" login "$(ratio "${RPS[login]}" "$argon2_rate" argon2 0.9)"
echo "Ed25519 verify, openssl speed on core 0: ${ed25519_rate:-?}/s; gatehouse EdDSA verify" \
  "reaches $(awk -v a="${RPS[ed_http]}" -v b="${ed25519_rate:-0}" \
    'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}') of it over http"
echo "argon2id: m=19456 KiB, t=2, p=1 (the defaults) in both rows; the node peer checks"
echo "signature, iss, aud and exp only, gatehouse also its session, deny list and rate limit"
echo "API key rows: keyed hash, cached key, revocation marker, per-address and per-key limits"
echo "and the usage count per request; no database read on a hit (usage is flushed every 10 s)"
if [ ${#BUSY_ROWS[@]} -gt 0 ]; then
  echo "WARNING: a compiler was running while these rows ran: ${BUSY_ROWS[*]};" \
    "their figures are skewed, rerun on a quiet machine"
fi
echo "gatehouse idle RSS: $((idle_rss_kib / 1024)) MiB ($idle_rss_kib KiB); after load:" \
  "$((busy_rss_kib / 1024)) MiB (goal idle < 20 MiB); node peer idle RSS:" \
  "$((node_idle_rss_kib / 1024)) MiB"
