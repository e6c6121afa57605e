#!/usr/bin/env bash
# User-space instructions per tools/call in `stepgate shim` (valgrind's callgrind), for one or more
# binaries side by side: a count that the load of other processes does not change, unlike CPU time
# or latency (this VM has no hardware counters for `perf stat -e instructions`). Each binary's shim
# runs under callgrind in front of bench/shim_fixed_upstream.mjs with the shipped agent pack (as
# shim_bench.sh: policy and audit on, batched fsync); wrk sends tools/call on 4 connections for
# SECONDS after a warm-up, with the counters zeroed in between. Printed per binary:
#   request path  instructions from reading a request to writing its answer (cpp-httplib's
#                 process_request), less the audit checkpoint signatures taken on that path:
#                 those are time-driven (one per fsync batch), not per request, and under
#                 callgrind's ~50x slowdown they would be charged to a few requests each
#   gate          gate_tool_call (signals, rules, audit record), less the same signatures
#   audit append  AuditLog::append, less the same signatures
#   httplib       process_request less the shim's handler: cpp-httplib's parsing and writing
#   upstream      forward_to_upstream: the upstream exchange
# Usage: bench/shim_instructions.sh BIN [BIN...]   (env: SECONDS_EACH=20; KEEP_CALLGRIND=DIR
# keeps the callgrind profiles there for callgrind_annotate)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
seconds="${SECONDS_EACH:-20}"
for tool in valgrind callgrind_annotate callgrind_control wrk node python3; do
  command -v "$tool" >/dev/null || { echo "shim_instructions: needs $tool" >&2; exit 2; }
done
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  [ -n "${KEEP_CALLGRIND:-}" ] && cp -r "$work" "$KEEP_CALLGRIND"; rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

fixed_port=$(free_port)
PORT=$fixed_port node "$here/shim_fixed_upstream.mjs" 2>/dev/null & pids+=($!)
sed 's/signals.rate > 30/signals.rate > 100000000/' "$root/policies/agent-tools.yaml" > "$work/policy.yaml"
cat > "$work/call.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"bench"}}}'
EOF
wait_port "$fixed_port"

# One binary: BIN INDEX -> a line of figures.
run_one() {
  local bin=$1 i=$2 port shim out requests
  port=$(free_port)
  STEPGATE_HOME="$work/home$i" valgrind --tool=callgrind --dump-instr=no \
    --callgrind-out-file="$work/cg$i.%p" "$bin" shim --upstream "fixed=http://127.0.0.1:$fixed_port/mcp" \
    --listen "127.0.0.1:$port" --policy "$work/policy.yaml" --actor bench >"$work/shim$i.log" 2>&1 &
  shim=$!
  pids+=($shim)
  wait_port "$port"
  wrk -t1 -c4 -d5s -s "$work/call.lua" "http://127.0.0.1:$port/mcp/fixed" >/dev/null
  callgrind_control -z "$shim" >/dev/null 2>&1
  out=$(wrk -t1 -c4 -d"${seconds}s" -s "$work/call.lua" "http://127.0.0.1:$port/mcp/fixed")
  callgrind_control -d "$shim" >/dev/null 2>&1
  sleep 1
  requests=$(echo "$out" | awk '/requests in/{print $1}')
  callgrind_annotate --inclusive=yes "$(ls -t "$work/cg$i.$shim"* | head -1)" 2>/dev/null > "$work/annotated$i.txt"
  python3 - "$work/annotated$i.txt" "$requests" "$bin" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[2])
def inclusive(pattern):
    for line in lines:
        if re.search(pattern, line):
            m = re.match(r"\s*([\d,]+)", line)
            if m:
                return int(m.group(1).replace(",", ""))
    return 0
request = inclusive(r"httplib::Server::process_request\(")
signing = inclusive(r"StoreCheckpointSink::record_head")
handler = inclusive(r"handle_post\(")
gate = inclusive(r"stepgate::gate_tool_call\(")
append = inclusive(r"AuditLog::append\(")
upstream = inclusive(r"stepgate::forward_to_upstream\(")
print(f"{sys.argv[3]}: {n} requests; per request: request path {(request - signing) // n:,}, "
      f"gate {(gate - signing) // n:,}, audit append {(append - signing) // n:,}, "
      f"httplib {(request - handler) // n:,}, upstream {upstream // n:,} instructions")
EOF
  kill "$shim" 2>/dev/null || true
}

i=0
for bin in "$@"; do
  i=$((i + 1))
  run_one "$bin" "$i"
done
