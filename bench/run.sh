#!/usr/bin/env bash
# Throughput of /healthz next to nginx answering `return 200`, over HTTP and
# HTTPS, from one run on this machine, plus Gatehouse's idle memory.
# The server under test gets core 0, the load generator (wrk) core 1.
set -euo pipefail
BIN="$(realpath "${1:?usage: bench/run.sh path/to/gatehouse}")"
DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
WORK="$(mktemp -d /tmp/gatehouse-bench.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

NEXT_PORT=$((20000 + RANDOM % 30000))
free_port() {  # sets PORT to a loopback port nobody listens on
  while ss -ltnH "sport = :$NEXT_PORT" | grep -q .; do NEXT_PORT=$((NEXT_PORT + 1)); done
  PORT=$NEXT_PORT
  NEXT_PORT=$((NEXT_PORT + 1))
}

wait_for() {  # url
  for _ in $(seq 1 100); do
    curl -sk -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "bench: $1 did not come up" >&2
  return 1
}

# wrk output -> "req/s p50 p99"
run_wrk() {
  local out
  out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$1")"
  local rps p50 p99
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  echo "$rps $p50 $p99"
}

scripts_dir="$(dirname "$0")/../scripts"
bash "$scripts_dir/dev-setup.sh" "$WORK/var" >/dev/null

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
    ssl_certificate $WORK/var/tls/cert.pem;
    ssl_certificate_key $WORK/var/tls/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200; }
  }
}
NGINX
taskset -c 0 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)

# Gatehouse: one I/O thread on core 0, once with TLS and once without.
start_gatehouse() {  # name tls port
  local cfg="$WORK/var/$1.toml"
  sed -e "s/^port = .*/port = $3/" -e "s/^redirect_port = .*/redirect_port = 0/" \
    "$WORK/var/gatehouse.toml" > "$cfg"
  cat >> "$cfg" <<TOML
[log]
level = "warn"
access_log = "off"
TOML
  sed -i "s/^\[server\]/[server]\ntls = $2\nio_threads = 1\nworker_threads = 1/" "$cfg"
  GATEHOUSE_LOG_LEVEL=warn taskset -c 0 "$BIN" serve --config "$cfg" \
    >"$WORK/$1.out" 2>&1 &
  GH_PID=$!
  PIDS+=("$GH_PID")
}
free_port; GH_HTTP=$PORT; free_port; GH_HTTPS=$PORT
start_gatehouse plain false "$GH_HTTP"
start_gatehouse tls true "$GH_HTTPS"
GH_HTTPS_PID=$GH_PID

wait_for "http://127.0.0.1:$NGINX_HTTP/"
wait_for "https://127.0.0.1:$NGINX_HTTPS/"
wait_for "http://127.0.0.1:$GH_HTTP/healthz"
wait_for "https://127.0.0.1:$GH_HTTPS/healthz"
sleep 1
idle_rss_kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$GH_HTTPS_PID/status")"

read -r n_http n_http_p50 n_http_p99 <<<"$(run_wrk "http://127.0.0.1:$NGINX_HTTP/")"
read -r g_http g_http_p50 g_http_p99 <<<"$(run_wrk "http://127.0.0.1:$GH_HTTP/healthz")"
read -r n_tls n_tls_p50 n_tls_p99 <<<"$(run_wrk "https://127.0.0.1:$NGINX_HTTPS/")"
read -r g_tls g_tls_p50 g_tls_p99 <<<"$(run_wrk "https://127.0.0.1:$GH_HTTPS/healthz")"
busy_rss_kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$GH_HTTPS_PID/status")"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo
echo "gatehouse bench: /healthz vs nginx 'return 200'; $CONNECTIONS connections, $DURATION,"
echo "server on core 0 (one I/O thread / one worker), wrk on core 1"
printf '%-22s %12s %10s %10s\n' "target" "requests/s" "p50" "p99"
printf '%-22s %12s %10s %10s\n' "nginx http" "$n_http" "$n_http_p50" "$n_http_p99"
printf '%-22s %12s %10s %10s\n' "gatehouse http" "$g_http" "$g_http_p50" "$g_http_p99"
printf '%-22s %12s %10s %10s\n' "nginx https" "$n_tls" "$n_tls_p50" "$n_tls_p99"
printf '%-22s %12s %10s %10s\n' "gatehouse https" "$g_tls" "$g_tls_p50" "$g_tls_p99"
echo "ratio http  (gatehouse/nginx): $(ratio "$g_http" "$n_http")  (goal >= 0.9)"
echo "ratio https (gatehouse/nginx): $(ratio "$g_tls" "$n_tls")  (goal >= 0.9)"
echo "gatehouse idle RSS: $((idle_rss_kib / 1024)) MiB ($idle_rss_kib KiB); after load:" \
  "$((busy_rss_kib / 1024)) MiB (goal idle < 20 MiB)"
