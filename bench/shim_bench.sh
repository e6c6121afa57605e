#!/usr/bin/env bash
# Side by side, in one run: tools/call straight to an upstream, through `stepgate shim` (allow
# path, policies/agent-tools.yaml, audit on) and through nginx (keep-alive upstream, no
# buffering), against (a) the MCP "everything" server's echo tool and (b) a fixed-reply JSON-RPC
# upstream that exposes the proxies' own overhead. wrk: 1 connection for latency (p50/p99),
# CONC connections for throughput. Results: bench/results/shim.txt.
# Usage: bench/shim_bench.sh [STEPGATE_BIN]   (env: DURATION=5s CONC=32)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
bin="${1:-${STEPGATE_BIN:-$root/build/stepgate}}"
duration="${DURATION:-5s}"
conc="${CONC:-32}"
e2e="$root/tests/e2e"
work="$(mktemp -d)"
export STEPGATE_HOME="$work/home"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

every_port=$(free_port); fixed_port=$(free_port); shim_port=$(free_port); nginx_port=$(free_port)
PORT=$every_port node "$e2e/node_modules/.bin/mcp-server-everything" streamableHttp >/dev/null 2>&1 & pids+=($!)
PORT=$fixed_port node "$here/shim_fixed_upstream.mjs" 2>/dev/null & pids+=($!)
# The shipped pack, less its rate-burst rule: at thousands of calls a minute every call would be
# held, and this measures the allow path (rules evaluated, signals collected, audit written).
sed 's/signals.rate > 30/signals.rate > 100000000/' "$root/policies/agent-tools.yaml" > "$work/policy.yaml"
"$bin" shim --upstream "every=http://127.0.0.1:$every_port/mcp" \
  --upstream "fixed=http://127.0.0.1:$fixed_port/mcp" --listen "127.0.0.1:$shim_port" \
  --policy "$work/policy.yaml" --actor bench >/dev/null 2>&1 & pids+=($!)
mkdir -p "$work/nginx"
sed -e "s#PREFIX#$work/nginx#g" -e "s#NGINX_PORT#$nginx_port#" -e "s#FIXED_PORT#$fixed_port#" \
  -e "s#EVERY_PORT#$every_port#" "$here/nginx-shim.conf" > "$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log"
for p in $every_port $fixed_port $shim_port $nginx_port; do wait_port "$p"; done

# One MCP session on the everything server, shared by all three paths (they only forward it).
init='{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
session=$(curl -s -D - -o /dev/null -H 'content-type: application/json' \
  -H 'accept: application/json, text/event-stream' -d "$init" "http://127.0.0.1:$every_port/mcp" |
  tr -d '\r' | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')
curl -s -o /dev/null -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -H "mcp-session-id: $session" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  "http://127.0.0.1:$every_port/mcp"

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

# measure NAME URL -> "p50_us p99_us seq_rps conc_rps"
measure() {
  local seq conc_out
  wrk -t1 -c1 -d1s -s "$work/call.lua" "$2" >/dev/null 2>&1  # warm up
  seq=$(wrk -t1 -c1 -d"$duration" -s "$work/call.lua" "$2" | awk '/^RESULT/{print $2, $3, $4, $5}')
  conc_out=$(wrk -t2 -c"$conc" -d"$duration" -s "$work/call.lua" "$2" | awk '/^RESULT/{print $4, $5}')
  echo "$seq $conc_out"
}

out="$root/bench/results/shim.txt"
mkdir -p "$(dirname "$out")"
{
  echo "# stepgate shim vs direct vs nginx — tools/call, wrk, $(date -u +%FT%TZ), $(nproc) CPUs"
  echo "# sequential: 1 connection; throughput: $conc connections; $duration each; latencies in µs"
  printf "%-8s %-8s %9s %9s %10s %10s %7s\n" upstream path p50_us p99_us seq_rps conc_rps errors
} > "$out"
for up in fixed every; do
  declare -A r=()
  r[direct]=$(measure direct "http://127.0.0.1:$([ $up = fixed ] && echo $fixed_port || echo $every_port)/mcp")
  r[shim]=$(measure shim "http://127.0.0.1:$shim_port/mcp/$up")
  r[nginx]=$(measure nginx "http://127.0.0.1:$nginx_port/mcp/$up")
  for path in direct shim nginx; do
    read -r p50 p99 srps serr crps cerr <<<"${r[$path]}"
    printf "%-8s %-8s %9.0f %9.0f %10.0f %10.0f %7d\n" "$up" "$path" "$p50" "$p99" "$srps" "$crps" \
      $((serr + cerr)) >> "$out"
  done
  read -r d50 _ _ _ dc _ <<<"${r[direct]}"
  read -r s50 _ _ _ sc _ <<<"${r[shim]}"
  read -r n50 _ _ _ nc _ <<<"${r[nginx]}"
  awk -v up=$up -v d=$d50 -v s=$s50 -v n=$n50 -v dc=$dc -v sc=$sc -v nc=$nc 'BEGIN{
    printf "%-8s shim adds p50 %+.0f µs (nginx %+.0f µs); throughput shim %.0f%% of direct (nginx %.0f%%)\n",
      up, s-d, n-d, 100*sc/dc, 100*nc/dc}' >> "$out"
done
cat "$out"
