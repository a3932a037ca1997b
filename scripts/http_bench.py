"""Per-call cost of the REST transport's two HTTP backends on loopback, beside their floors.

    .venv/bin/python scripts/http_bench.py [--calls 5000]

A minimal HTTP/1.1 server (Nagle off, keep-alive, a constant Kraken-shaped reply) runs in a child
process (its own GIL), so the figures are the client's: wall time per call (p50, p99) and the
client thread's CPU per call. Clients, each on one keep-alive connection:

- raw http.client POST (the floor), and a requests.Session POST with trust_env off;
- KrakenRestClient(http="stdlib") and KrakenRestClient(http="requests"): a signed private call
  (nonce, HMAC-SHA512, form body, status check and decode), as the gateway's workers make it.

A benchmark, not a test: it prints figures and never fails on one.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_REPLY = b'{"error":[],"result":{"ZUSD":"171288.6158","XXBT":"1011.1908877900"}}'

_SERVER = r"""
import socket, sys, threading
REPLY = sys.argv[1].encode()
head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
head += str(len(REPLY)).encode() + b"\r\n\r\n"
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)

def serve(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
        header, _, buffer = buffer.partition(b"\r\n\r\n")
        length = 0
        for line in header.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        while len(buffer) < length:
            buffer += conn.recv(65536)
        buffer = buffer[length:]
        conn.sendall(head + REPLY)

while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _measure(call: Callable[[], object], calls: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    wall: list[float] = []
    cpu_start = time.thread_time()
    for _ in range(calls):
        begin = time.perf_counter()
        call()
        wall.append(time.perf_counter() - begin)
    cpu = (time.thread_time() - cpu_start) / calls
    return {"p50": _percentile(wall, 0.5), "p99": _percentile(wall, 0.99), "cpu": cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Per-call cost of the HTTP backends on loopback.")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args(argv)

    import requests

    from gal_exec.kraken.auth import Credentials
    from gal_exec.kraken.rest import KrakenRestClient
    from gal_exec.timers import SystemClock

    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, _REPLY.decode()],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        body = b"nonce=1&asset=ZUSD"
        headers = {"Content-Type": "application/x-www-form-urlencoded", "API-Key": "k"}

        raw = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        raw.connect()
        raw.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def raw_call() -> bytes:
            raw.request("POST", "/0/private/Balance", body, headers)
            return raw.getresponse().read()

        session = requests.Session()
        session.trust_env = False

        def session_call() -> bytes:
            return session.post(url + "/0/private/Balance", data=body, headers=headers).content

        secret = base64.b64encode(os.urandom(64)).decode()
        credentials = Credentials("bench-key", secret)
        clients = {
            kind: KrakenRestClient(url, credentials, clock=SystemClock(), http=kind)  # type: ignore[arg-type]
            for kind in ("stdlib", "requests")
        }
        rows = [
            ("http.client POST (floor)", raw_call),
            ("requests.Session POST", session_call),
            ("KrakenRestClient http=stdlib (signed Balance)", clients["stdlib"].balance),
            ("KrakenRestClient http=requests (signed Balance)", clients["requests"].balance),
        ]
        results = {name: _measure(call, args.calls, args.warmup) for name, call in rows}
    finally:
        server.terminate()
        server.wait(timeout=10)
    floor = results["http.client POST (floor)"]["p50"]
    print(
        f"{args.calls} calls each on one keep-alive loopback connection (server in a child process)"
    )
    print("| client | p50 µs | p99 µs | CPU µs/call | p50 / floor |")
    print("|---|---|---|---|---|")
    for name, figures in results.items():
        print(
            f"| {name} | {figures['p50'] * 1e6:.0f} | {figures['p99'] * 1e6:.0f} | "
            f"{figures['cpu'] * 1e6:.0f} | {figures['p50'] / floor:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
