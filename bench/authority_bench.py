#!/usr/bin/env python3
"""Decision latency through the authority's Unix socket, side by side with the work the authority
does for it (what an in-process Gate would do), in one run; and decisions per second with 8
concurrent clients, each on its own connection.

  bench/authority_bench.py [--bin build/stepgate] [--n 5000] [--clients 8]

Starts `stepgate authority serve` in a temporary state dir (the caller's uid mapped to actor
`bench`), sends `decide` for an allowed tool call over the socket, and reports per decision:
  round trip       client send -> signed reply parsed (Python client: includes its JSON work)
  in the authority `elapsed_us` the authority reports (signals, engine, store, audit append)
  added            round trip - in the authority (socket, framing, JSON both ways, signature)
"""
import argparse
import json
import multiprocessing
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

POLICY = """version: 1
name: bench
thresholds: { step_up: 50, deny: 100 }
rules:
  - id: rm-needs-a-human
    on: tool.call
    when: signals.shell_command.contains("rm -rf")
    effect: step_up
    message: "rm -rf needs a human"
"""

REQUEST = {
    "v": 1,
    "op": "decide",
    "front_end": "bench",
    "action": {"kind": "tool.call", "actor": "bench", "resource": "Bash",
               "attributes": {"server": "", "tool": "Bash", "arguments": {"command": "ls -la"}}},
    "signals": {"tool": "Bash", "shell_command": "ls -la"},
    "layers": [],
    "grants": [],
}


def call(sock, body):
    sock.sendall(struct.pack(">I", len(body)) + body)
    header = recv_exact(sock, 4)
    return json.loads(recv_exact(sock, struct.unpack(">I", header)[0]))


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("authority closed the connection")
        data += chunk
    return data


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def latency(path, n):
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    body = json.dumps(REQUEST).encode()
    rtt, inside = [], []
    for i in range(n + 200):
        t0 = time.perf_counter_ns()
        reply = call(sock, body)
        t1 = time.perf_counter_ns()
        assert reply["ok"] and reply["outcome"]["final_verdict"] == "allow", reply
        if i >= 200:  # warm-up
            rtt.append((t1 - t0) / 1000)
            inside.append(reply["elapsed_us"])
    return rtt, inside


def worker(args):
    path, n = args
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    body = json.dumps(REQUEST).encode()
    for _ in range(n):
        call(sock, body)
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "stepgate"))
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sg-authority-bench-") as work:
        with open(os.path.join(work, "policy.yaml"), "w") as f:
            f.write(POLICY)
        sock_path = os.path.join(work, "authority.sock")
        with open(os.path.join(work, "authority.yaml"), "w") as f:
            f.write(f"socket: {sock_path}\nstate_dir: {work}/state\npolicy: {work}/policy.yaml\n"
                    f"inbox: off\nactors:\n  - uid: {os.getuid()}\n    actor: bench\n")
        server = subprocess.Popen([a.bin, "authority", "serve", "--config", f"{work}/authority.yaml"],
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if os.path.exists(sock_path):
                    break
                time.sleep(0.05)
            rtt, inside = latency(sock_path, a.n)
            added = [r - i for r, i in zip(rtt, inside)]
            print(f"decide over the socket, {a.n} sequential decisions (allowed tool call):")
            for name, v in (("round trip", rtt), ("in the authority", inside), ("added", added)):
                print(f"  {name:17s} p50 {pct(v, 50):8.1f} us   p99 {pct(v, 99):8.1f} us")
            per = a.n
            t0 = time.perf_counter()
            with multiprocessing.Pool(a.clients) as pool:
                total = sum(pool.map(worker, [(sock_path, per)] * a.clients))
            dt = time.perf_counter() - t0
            print(f"{a.clients} concurrent clients, {total} decisions: {total / dt:,.0f} decisions/s")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
