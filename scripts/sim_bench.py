"""Benchmark the simulator's REST server: signed private requests per second over one keep-alive
connection (faults off, rate limits off).

    python scripts/sim_bench.py [-n 5000] [--endpoint Balance|QueryOrders] [--in-process]

By default the simulator runs as a subprocess (``gal_exec.sim.server.run_standalone``) so the
client and the server do not compete for one GIL. Prints one line of figures.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def _sign(secret: bytes, path: str, nonce: int, body: bytes) -> str:
    digest = hashlib.sha256(str(nonce).encode() + body).digest()
    return base64.b64encode(
        hmac.new(secret, path.encode() + digest, hashlib.sha512).digest()
    ).decode()


def _start_subprocess() -> tuple[subprocess.Popen, dict]:
    code = (
        "import sys; from gal_exec.sim.server import run_standalone; "
        "sys.exit(run_standalone(sys.argv[1:]))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--tier", "pro", "--no-rate-limits", "--clock", "manual"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise SystemExit("the simulator did not start")
    return process, json.loads(line)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux), or None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(count: int, endpoint: str, endpoints: dict) -> float:
    url = urlsplit(endpoints["rest_url"])
    secret = base64.b64decode(endpoints["api_secret"])
    key = endpoints["api_key"]
    path = f"/0/private/{endpoint}"
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    nonce = time.time_ns()
    txid = ""
    if endpoint == "QueryOrders":
        nonce += 1
        body = (
            f"nonce={nonce}&pair=XBTUSD&type=buy&ordertype=limit&price=1000&volume=0.01"
        ).encode()
        connection.request(
            "POST",
            "/0/private/AddOrder",
            body,
            {
                "API-Key": key,
                "API-Sign": _sign(secret, "/0/private/AddOrder", nonce, body),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        txid = json.loads(connection.getresponse().read())["result"]["txid"][0]
    started = time.perf_counter()
    for _ in range(count):
        nonce += 1
        body = f"nonce={nonce}&txid={txid}".encode() if txid else f"nonce={nonce}".encode()
        connection.request(
            "POST",
            path,
            body,
            {
                "API-Key": key,
                "API-Sign": _sign(secret, path, nonce, body),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        answer = json.loads(connection.getresponse().read())
        if answer["error"]:
            raise SystemExit(f"request failed: {answer['error']}")
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="requests to send")
    parser.add_argument("--endpoint", choices=("Balance", "QueryOrders"), default="Balance")
    parser.add_argument("--in-process", action="store_true", help="run the simulator in-process")
    args = parser.parse_args()
    process = None
    if args.in_process:
        sys.path.insert(0, str(ROOT))
        from gal_exec.config import SimConfig
        from gal_exec.sim import Simulator

        simulator = Simulator(SimConfig(tier="pro", enforce_rate_limits=False, clock="manual"))
        endpoints = simulator.start().endpoints()
    else:
        process, endpoints = _start_subprocess()
    cpu_before = _cpu_seconds(process.pid) if process else None
    try:
        rate = run(args.n, args.endpoint, endpoints)
        cpu_after = _cpu_seconds(process.pid) if process else None
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        else:
            simulator.stop()
    where = "in-process" if args.in_process else "subprocess"
    server_cpu = ""
    if cpu_before is not None and cpu_after is not None:
        server_cpu = f"; server CPU {(cpu_after - cpu_before) * 1e6 / args.n:.0f} us per request"
    print(
        f"{args.n} signed {args.endpoint} requests, one keep-alive connection, {where}: "
        f"{rate:,.0f} requests/s ({1e6 / rate:.0f} us each{server_cpu})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
