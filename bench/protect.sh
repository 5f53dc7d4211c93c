#!/usr/bin/env bash
# The rate limiter's part of `make bench`, from a release build with -DGATEHOUSE_BENCH=ON:
#   1. the decision alone: MemoryRateLimiter::Check under Google Benchmark, a hot key and one
#      million keys, each with a class that keeps them allowed and one that keeps them refused,
#      on one and two threads (bench/rate_limit_decision.cc);
#   2. the memory one million live keys take (bench/rate_limit_memory.cc), goal < 150 MiB;
#   3. Redis: RedisRateLimiter::CheckAsync pipelined (bench/rate_limit_redis.cc) next to
#      redis-benchmark sending EVALSHA of the same script, with the same keys and arguments,
#      to the same throwaway redis-server; goal >= 0.8x redis-benchmark, one EVALSHA (one
#      round trip) per decision. redis-server gets core 0, each client core 1.
#
#   bench/protect.sh BUILD_DIR
#   BENCH_MIN_TIME (0.5 s per Google Benchmark row), BENCH_REDIS_DECISIONS (400000 per run),
#   BENCH_REDIS_KEYS (100000), BENCH_REDIS_CONNECTIONS (1), BENCH_REDIS_PIPELINE (128 in
#   flight per connection), BENCH_REDIS_RUNS (2, alternating; the best of each side counts)
set -euo pipefail
BUILD="$(realpath "${1:?usage: bench/protect.sh BUILD_DIR}")"
MIN_TIME="${BENCH_MIN_TIME:-0.5}"
DECISIONS="${BENCH_REDIS_DECISIONS:-400000}"
KEYS="${BENCH_REDIS_KEYS:-100000}"
CONNECTIONS="${BENCH_REDIS_CONNECTIONS:-1}"
PIPELINE="${BENCH_REDIS_PIPELINE:-128}"
RUNS="${BENCH_REDIS_RUNS:-2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REDIS_SCRIPT="$ROOT/scripts/redis-test-server.sh"
DECISION_BIN="$BUILD/bench/rate_limit_decision"
MEMORY_BIN="$BUILD/bench/rate_limit_memory"
REDIS_BIN="$BUILD/bench/rate_limit_redis"

fail() {
  echo "protect bench: $*" >&2
  exit 1
}

for bin in "$DECISION_BIN" "$MEMORY_BIN" "$REDIS_BIN"; do
  [ -x "$bin" ] || fail "$bin not found (built by bench/CMakeLists.txt with -DGATEHOUSE_BENCH=ON)"
done
for tool in redis-server redis-cli redis-benchmark taskset ss; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (scripts/install-deps.sh bench)"
done

WORK="$(mktemp -d /tmp/gatehouse-protect-bench.XXXXXX)"
REDIS_DIR="$WORK/redis"
cleanup() {
  "$REDIS_SCRIPT" stop "$REDIS_DIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Figures taken while a compiler runs are skewed; such steps are named in a warning.
BUSY=()
note_busy() {  # step
  [[ " ${BUSY[*]} " == *" $1 "* ]] && return 0
  if pgrep -x 'cc1.*|ld|lld' >/dev/null; then BUSY+=("$1"); fi
}
goal() {  # value goal(>=|<) threshold
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    ok = (op == "<" ? v < t : v >= t); printf "goal %s %s: %s", op, t, (ok ? "ok" : "MISSED") }'
}

echo
echo "== rate limiter: the decision alone (MemoryRateLimiter::Check, Google Benchmark) =="
echo "   allowed = share of decisions allowed; items_per_second = decisions/s of all threads"
note_busy decision
"$DECISION_BIN" --benchmark_min_time="$MIN_TIME" --benchmark_color=false \
  2>"$WORK/decision.err" || fail "rate_limit_decision failed: $(cat "$WORK/decision.err")"
grep -i 'warning' "$WORK/decision.err" | sed 's/^/   /' || true
note_busy decision

echo
echo "== rate limiter: memory of 1,000,000 live keys (MemoryRateLimiter, fresh process) =="
note_busy memory
mem_out="$("$MEMORY_BIN" 1000000)" || fail "rate_limit_memory failed"
note_busy memory
read -r _ rss_mib _ rss_per_key _ heap_mib _ heap_per_key <<<"$(tail -n 1 <<<"$mem_out")"
echo "   $(head -n 1 <<<"$mem_out")"
echo "   subjects: 70% IPv4, 15% IPv6 /64, 10% accounts, 5% API keys; 1 to 40 requests per key"
printf '   RSS growth      %7.1f MiB = %6.1f bytes/key   %s\n' "$rss_mib" "$rss_per_key" \
  "$(goal "$rss_mib" "<" 150)"
printf '   heap in use     %7.1f MiB = %6.1f bytes/key   %s\n' "$heap_mib" "$heap_per_key" \
  "$(goal "$heap_mib" "<" 150)"

echo
echo "== rate limiter: Redis, RedisRateLimiter::CheckAsync next to redis-benchmark =="
PORT=$((20000 + RANDOM % 30000))
while ss -ltnH "sport = :$PORT" | grep -q .; do PORT=$((PORT + 1)); done
# The daemonized server inherits the affinity: redis-server and its helper threads on core 0.
taskset -c 0 "$REDIS_SCRIPT" start "$REDIS_DIR" "$PORT" >/dev/null ||
  fail "could not start redis-server"
cli() {  # the password goes through the environment, never the command line
  REDISCLI_AUTH="$(<"$REDIS_DIR/password")" redis-cli --no-auth-warning -h 127.0.0.1 -p "$PORT" "$@"
}

# Both sides run exactly the limiter's script: loaded from the program's own text, and its
# SHA-1 checked against the one the limiter sends.
want_sha="$("$REDIS_BIN" sha1)"
got_sha="$("$REDIS_BIN" script | cli -x SCRIPT LOAD)"
[ "$got_sha" = "$want_sha" ] || fail "SCRIPT LOAD answered $got_sha, the limiter sends $want_sha"
read -ra COMMAND <<<"$("$REDIS_BIN" command)"
# redis-benchmark takes a password only on its command line (-a), where `ps` shows it. It logs
# in as a password-less user of this throwaway, loopback-only server instead (nopass accepts
# any password); Gatehouse's client uses the real password.
cli ACL SETUSER gh-bench on nopass '~*' '&*' '+@all' >/dev/null

# EVALSHA calls per decision, the other commands the server ran, and the EVALSHA calls it
# rejected or failed (redis-benchmark does not look at replies), from INFO commandstats. The
# stats are reset before each run; CONFIG and INFO are this script's own.
server_commands() {  # decisions
  cli INFO commandstats | tr -d '\r' | awk -F'[:=,]' -v n="$1" '
    /^cmdstat_/ { name = substr($1, 9); calls = $3
      # Redis 7 names subcommands "config|resetstat"; "|" also splits the reply below.
      base = name; sub(/\|.*/, "", base); gsub(/\|/, " ", name)
      if (name == "evalsha") { evalsha = calls; failed = $9 + $11 }
      else if (base != "config" && base != "info") other = other " " name "=" calls }
    END { printf "%.2f|%s|%d", evalsha / n, (other == "" ? " none" : other), failed }'
}
used_memory() { cli INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}'; }
fresh() { cli FLUSHALL SYNC >/dev/null && cli CONFIG RESETSTAT >/dev/null; }

IN_FLIGHT=$((CONNECTIONS * PIPELINE))
best_gh=0
best_rb=0
echo "   $(redis-server --version | awk '{print $1, $2, $3}') on core 0, each client on core 1;"
echo "   $DECISIONS decisions per run on random keys of $KEYS ('${COMMAND[*]:3:1}'),"
echo "   class default (100 per 60 s, server clock: all allowed); $CONNECTIONS connection(s)," \
  "$PIPELINE in flight per connection ($IN_FLIGHT in all) on both sides"
for run in $(seq 1 "$RUNS"); do
  fresh
  base_mem="$(used_memory)"
  note_busy "redis-run-$run"
  gh_out="$(taskset -c 1 "$REDIS_BIN" run "$PORT" "$REDIS_DIR/password" "$CONNECTIONS" \
    "$IN_FLIGHT" "$DECISIONS" "$KEYS")" || fail "rate_limit_redis failed"
  note_busy "redis-run-$run"
  read -r _ gh_rate _ _ _ _ _ gh_allowed _ gh_refused _ gh_commands _ gh_writes <<<"$gh_out"
  IFS='|' read -r gh_per_decision gh_other gh_failed <<<"$(server_commands "$DECISIONS")"
  [ "$gh_failed" = 0 ] || fail "the server failed $gh_failed of gatehouse's EVALSHA calls"
  keys_held="$(cli DBSIZE)"
  key_bytes="$(awk -v a="$(used_memory)" -v b="$base_mem" -v k="$keys_held" \
    'BEGIN {printf "%.0f", (a - b) / k}')"

  fresh
  note_busy "redis-run-$run"
  rb_csv="$(taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$PORT" --user gh-bench -a unused \
    -c "$CONNECTIONS" -P "$PIPELINE" -n "$DECISIONS" -r "$KEYS" --csv "${COMMAND[@]}" \
    2>"$WORK/redis-benchmark.err")" || fail "redis-benchmark failed: $(cat "$WORK/redis-benchmark.err")"
  note_busy "redis-run-$run"
  rb_rate="$(tail -n 1 <<<"$rb_csv" | awk -F'","' '{print $2 + 0}')"
  IFS='|' read -r rb_per_decision rb_other rb_failed <<<"$(server_commands "$DECISIONS")"
  [ "$rb_failed" = 0 ] || fail "the server failed $rb_failed of redis-benchmark's EVALSHA calls"

  printf '   run %s: gatehouse %9.0f decisions/s (%s allowed, %s refused; EVALSHA per decision %s,' \
    "$run" "$gh_rate" "$gh_allowed" "$gh_refused" "$gh_per_decision"
  printf ' other commands:%s; %.1f commands per socket write)\n' "$gh_other" \
    "$(awk -v c="$gh_commands" -v w="$gh_writes" 'BEGIN {print (w > 0 ? c / w : 0)}')"
  printf '          redis-benchmark %9.0f requests/s (EVALSHA per request %s, other commands:%s)\n' \
    "$rb_rate" "$rb_per_decision" "$rb_other"
  best_gh="$(awk -v a="$best_gh" -v b="$gh_rate" 'BEGIN {print (b > a ? b : a)}')"
  best_rb="$(awk -v a="$best_rb" -v b="$rb_rate" 'BEGIN {print (b > a ? b : a)}')"
done
ratio="$(awk -v a="$best_gh" -v b="$best_rb" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
printf '   gatehouse / redis-benchmark, best of %s each: %.0f / %.0f = %s   %s\n' "$RUNS" \
  "$best_gh" "$best_rb" "$ratio" "$(goal "$ratio" ">=" 0.8)"
echo "   Redis memory after a gatehouse run: $keys_held keys, $key_bytes bytes per key" \
  "(sorted sets of about $((DECISIONS / KEYS)) requests each)"

if [ ${#BUSY[@]} -gt 0 ]; then
  echo "WARNING: a compiler was running during: ${BUSY[*]}; those figures are skewed," \
    "rerun on a quiet machine"
fi
