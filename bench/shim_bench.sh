#!/usr/bin/env bash
# Side by side, in one run: MCP tools/call straight to an upstream, through nginx (keep-alive
# upstream, no buffering: a proxy hop doing nothing else) and through `stepgate shim` (allow path,
# policies/agent-tools.yaml, audit on) twice: with batched audit fsync (the default) and with
# `audit: {durable: true}` (each answer waits for its record's fsync). The upstream is a fixed-reply
# JSON-RPC server, so what each hop adds is what is measured (EVERY=1 adds the MCP "everything"
# server's echo tool). ROUNDS rounds, the paths interleaved within each round: wrk with 1
# connection (p50/p99 latency) and with CONC connections (throughput). Prints per-path medians and
# ranges over the rounds, the shim's added p50/p99 and throughput ratio against direct and nginx
# (per round, then median and range), each proxy's CPU time per request over the CONC run (user +
# system from /proc; far less sensitive to other load on the machine than latency), and the RSS
# and thread count of each proxy after the load.
# Results: bench/results/shim.txt.
# BASE_BIN=OTHER_STEPGATE adds a fifth path, "base": that binary's shim (batched audit), e.g. the
# previous release, for a before/after in the same run.
# Usage: bench/shim_bench.sh [STEPGATE_BIN]   (env: DURATION=3s CONC=32 ROUNDS=3 EVERY=0 BASE_BIN=)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
bin="${1:-${STEPGATE_BIN:-$root/build/stepgate}}"
duration="${DURATION:-3s}"
conc="${CONC:-32}"
rounds="${ROUNDS:-3}"
every="${EVERY:-0}"
base_bin="${BASE_BIN:-}"
e2e="$root/tests/e2e"
for tool in wrk nginx node python3; do
  command -v "$tool" >/dev/null || { echo "shim_bench: needs $tool (STEPGATE_BENCH_PEERS=1 scripts/setup.sh)" >&2; exit 2; }
done
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
threads() { ls "/proc/$1/task" | wc -l; }

fixed_port=$(free_port); every_port=$(free_port); nginx_port=$(free_port)
shim_port=$(free_port); durable_port=$(free_port); base_port=$(free_port)
PORT=$fixed_port node "$here/shim_fixed_upstream.mjs" 2>/dev/null & pids+=($!)
upstreams=(--upstream "fixed=http://127.0.0.1:$fixed_port/mcp")
if [ "$every" = 1 ]; then
  PORT=$every_port node "$e2e/node_modules/.bin/mcp-server-everything" streamableHttp >/dev/null 2>&1 & pids+=($!)
  upstreams+=(--upstream "every=http://127.0.0.1:$every_port/mcp")
fi
# The shipped pack, less its rate-burst rule: at thousands of calls a minute every call would be
# held, and this measures the allow path (rules evaluated, signals collected, audit written).
sed 's/signals.rate > 30/signals.rate > 100000000/' "$root/policies/agent-tools.yaml" > "$work/policy.yaml"
{ cat "$work/policy.yaml"; printf 'audit:\n  durable: true\n'; } > "$work/policy-durable.yaml"
STEPGATE_HOME="$work/home" "$bin" shim "${upstreams[@]}" --listen "127.0.0.1:$shim_port" \
  --policy "$work/policy.yaml" --actor bench >/dev/null 2>&1 & shim_pid=$!; pids+=($shim_pid)
STEPGATE_HOME="$work/home-durable" "$bin" shim "${upstreams[@]}" --listen "127.0.0.1:$durable_port" \
  --policy "$work/policy-durable.yaml" --actor bench >/dev/null 2>&1 & durable_pid=$!; pids+=($durable_pid)
base_pid=""
if [ -n "$base_bin" ]; then
  STEPGATE_HOME="$work/home-base" "$base_bin" shim "${upstreams[@]}" --listen "127.0.0.1:$base_port" \
    --policy "$work/policy.yaml" --actor bench >/dev/null 2>&1 & base_pid=$!; pids+=($base_pid)
fi
mkdir -p "$work/nginx"
sed -e "s#PREFIX#$work/nginx#g" -e "s#NGINX_PORT#$nginx_port#" -e "s#FIXED_PORT#$fixed_port#" \
  -e "s#EVERY_PORT#$every_port#" "$here/nginx-shim.conf" > "$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log"
for _ in $(seq 50); do [ -s "$work/nginx/nginx.pid" ] && break; sleep 0.1; done
ports=("$fixed_port" "$shim_port" "$durable_port" "$nginx_port")
[ "$every" = 1 ] && ports+=("$every_port")
[ -n "$base_bin" ] && ports+=("$base_port")
for p in "${ports[@]}"; do wait_port "$p"; done

session=""
if [ "$every" = 1 ]; then  # one MCP session on the everything server, forwarded by every path
  init='{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
  session=$(curl -s -D - -o /dev/null -H 'content-type: application/json' \
    -H 'accept: application/json, text/event-stream' -d "$init" "http://127.0.0.1:$every_port/mcp" |
    tr -d '\r' | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')
  curl -s -o /dev/null -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -H "mcp-session-id: $session" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
    "http://127.0.0.1:$every_port/mcp"
fi

cat > "$work/call.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Session-Id"] = "$session"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"bench"}}}'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.1f %.1f %d %d\n", latency:percentile(50), latency:percentile(99),
    summary.requests / (summary.duration / 1e6), summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.requests))
end
EOF

# CPU time (user + system, clock ticks) a process has used so far; 0 when there is no process.
cpu_ticks() { if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then awk '{print $14 + $15}' "/proc/$1/stat"; else echo 0; fi; }

# measure URL PID -> "p50_us p99_us seq_rps conc_rps errors cpu_us_per_request"
# The CPU figure is the proxy's own (PID: the shim, or nginx's worker) over the CONC run: what one
# request costs it, which the load of other processes on the machine changes far less than
# latency or throughput.
measure() {
  local seq conc_out t0 t1 creqs
  wrk -t1 -c1 -d1s -s "$work/call.lua" "$1" >/dev/null 2>&1  # warm up
  seq=$(wrk -t1 -c1 -d"$duration" -s "$work/call.lua" "$1" | awk '/^RESULT/{print $2, $3, $4, $5}')
  t0=$(cpu_ticks "$2")
  conc_out=$(wrk -t2 -c"$conc" -d"$duration" -s "$work/call.lua" "$1" | awk '/^RESULT/{print $4, $5, $6}')
  t1=$(cpu_ticks "$2")
  read -r p50 p99 srps serr <<<"$seq"
  read -r crps cerr creqs <<<"$conc_out"
  echo "$p50 $p99 $srps $crps $((serr + cerr)) $(awk -v d=$((t1 - t0)) -v n="$creqs" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f", (n > 0 && d > 0 ? d / hz * 1e6 / n : 0) }')"
}

nginx_worker=$(pgrep -P "$(cat "$work/nginx/nginx.pid")" | head -1)  # nginx-shim.conf: one worker
ups=(fixed)
[ "$every" = 1 ] && ups+=(every)
raw="$work/raw.txt"
: > "$raw"
for round in $(seq "$rounds"); do
  for up in "${ups[@]}"; do
    direct_port=$fixed_port
    [ "$up" = every ] && direct_port=$every_port
    # The order rotates each round so no path always runs right after another.
    paths=(direct nginx shim durable)
    [ -n "$base_bin" ] && paths+=(base)
    for i in $(seq 0 $(((round - 1) % ${#paths[@]}))); do [ "$i" = 0 ] || paths=("${paths[@]:1}" "${paths[0]}"); done
    for path in "${paths[@]}"; do
      case $path in
        direct) url="http://127.0.0.1:$direct_port/mcp" pid="" ;;
        nginx) url="http://127.0.0.1:$nginx_port/mcp/$up" pid=$nginx_worker ;;
        shim) url="http://127.0.0.1:$shim_port/mcp/$up" pid=$shim_pid ;;
        durable) url="http://127.0.0.1:$durable_port/mcp/$up" pid=$durable_pid ;;
        base) url="http://127.0.0.1:$base_port/mcp/$up" pid=$base_pid ;;
      esac
      echo "$round $up $path $(measure "$url" "$pid")" >> "$raw"
    done
  done
done

out="$root/bench/results/shim.txt"
mkdir -p "$(dirname "$out")"
{
  echo "# stepgate shim vs direct vs nginx: tools/call, wrk, $(date -u +%FT%TZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $rounds rounds, paths interleaved; latency: 1 connection, throughput: $conc connections; $duration each"
  echo "# shim = batched audit fsync (default); durable = audit: {durable: true}${base_bin:+; base = $base_bin}"
  echo "# per path: median [min-max] over the rounds"
  awk -v rounds="$rounds" '
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    function stat(key, fmt,   n, i, a, lo, hi) { n = cnt[key]; for (i = 1; i <= n; i++) a[i] = v[key, i]
      lo = a[1]; hi = a[1]; for (i = 1; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
      return sprintf(fmt " [" fmt "-" fmt "]", med(a, n), lo, hi) }
    function add(key, x) { v[key, ++cnt[key]] = x }
    { r = $1; up = $2; p = $3; p50[r, up, p] = $4; p99[r, up, p] = $5; seq[r, up, p] = $6; conc[r, up, p] = $7
      err[up, p] += $8; cpu[r, up, p] = $9; seen[up] = 1; paths[p] = 1 }
    END {
      for (up in seen) {
        printf "\n%-6s %-8s %-22s %-22s %-22s %-22s %-22s %s\n", up, "path", "p50_us", "p99_us", "seq_rps", "conc_rps", "cpu_us/req", "errors"
        split("direct nginx shim durable base", order, " ")
        for (k = 1; k <= 5; k++) { p = order[k]; if (!(p in paths)) continue
          for (r = 1; r <= rounds; r++) { add(up "p50" p, p50[r, up, p]); add(up "p99" p, p99[r, up, p])
            add(up "seq" p, seq[r, up, p]); add(up "conc" p, conc[r, up, p]); add(up "cpu" p, cpu[r, up, p]) }
          printf "%-6s %-8s %-22s %-22s %-22s %-22s %-22s %d\n", up, p, stat(up "p50" p, "%.0f"), stat(up "p99" p, "%.0f"),
            stat(up "seq" p, "%.0f"), stat(up "conc" p, "%.0f"), p == "direct" ? "-" : stat(up "cpu" p, "%.1f"), err[up, p] }
        for (k = 2; k <= 5; k++) { p = order[k]; if (!(p in paths)) continue
          for (r = 1; r <= rounds; r++) { add(up "add" p, p50[r, up, p] - p50[r, up, "direct"])
            add(up "tput" p, conc[r, up, p] / conc[r, up, "direct"])
            if (p != "nginx") { add(up "vsng" p, (p50[r, up, p] - p50[r, up, "direct"]) / (p50[r, up, "nginx"] - p50[r, up, "direct"]))
              add(up "tvsng" p, conc[r, up, p] / conc[r, up, "nginx"]) } }
          for (r = 1; r <= rounds; r++) add(up "p99add" p, p99[r, up, p] - p99[r, up, "direct"])
          printf "%-6s %-8s adds p50 %s us, p99 %s us; throughput %s x direct", up, p, stat(up "add" p, "%+.0f"),
            stat(up "p99add" p, "%+.0f"), stat(up "tput" p, "%.2f")
          if (p != "nginx") printf "; added p50 %s x nginx'"'"'s, throughput %s x nginx'"'"'s", stat(up "vsng" p, "%.1f"), stat(up "tvsng" p, "%.2f")
          printf "\n" }
      }
    }' "$raw"
  echo
  printf "after the load: shim RSS %s kB, %s threads; durable shim RSS %s kB, %s threads; nginx worker RSS %s kB\n" \
    "$(rss_kb "$shim_pid")" "$(threads "$shim_pid")" "$(rss_kb "$durable_pid")" "$(threads "$durable_pid")" \
    "$(rss_kb "$nginx_worker")"
  [ -n "$base_pid" ] && printf "base shim RSS %s kB, %s threads\n" "$(rss_kb "$base_pid")" "$(threads "$base_pid")"
  echo "# raw: round upstream path p50_us p99_us seq_rps conc_rps errors cpu_us_per_request"
  sed 's/^/# /' "$raw"
} > "$out"
cat "$out"
