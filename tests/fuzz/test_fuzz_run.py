"""Hostile signal lines through the real `gal-exec run`, against a simulator this test controls.

A bounded number of runs, each a file of hostile lines with valid signals between them: the run
ends with status 0 and no traceback, every valid signal is placed (its report says filled and the
exchange holds exactly those orders), no rejected signal reaches the exchange, and the process's
peak memory stays bounded whatever one line holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from hostile import catalog, fuzz_settings, hostile_line, valid_signal
from hypothesis import given
from hypothesis import strategies as st

from gal_exec.config import SimConfig
from gal_exec.sim.server import Simulator

pytestmark = pytest.mark.timeout(300)

PEAK_RSS_BYTES = 400 * 1024 * 1024


def _config(tmp_path: Path, sim: Simulator) -> Path:
    config = tmp_path / "run.toml"
    config.write_text(
        "[exchange]\n"
        'mode = "kraken"\n'
        'tier = "pro"\n'
        f'rest_url = "{sim.rest_url}"\n'
        f'ws_url = "{sim.ws_url}"\n'
        f'ws_auth_url = "{sim.ws_auth_url}"\n'
        "[engine]\n"
        'dead_man_switch = "off"\n'
        "[market_data]\n"
        'pairs = ["XBT/USD"]\n'
        # The valid signals around the hostile lines are market buys; over a long run they
        # would add up to the live-mode exposure limits, a rejection these runs do not test.
        "[risk]\n"
        'market_notional_cap = "0"\n'
        'max_exposure_per_pair = "0"\n'
        'max_exposure_total = "0"\n'
        "[logging]\n"
        'level = "WARNING"\n'
    )
    return config


def run_lines(tmp_path: Path, sim: Simulator, lines: list[bytes], *, stream_extra: int = 0):
    """`gal-exec run --until-done` on ``lines`` (fed through standard input, plus an optional
    over-long line of ``stream_extra`` bytes generated on the fly); returns (exit status,
    stderr, reports, peak RSS in bytes). A run left waiting on live orders once everything was
    read is stopped with SIGTERM, and that counts as a clean end."""
    reports = tmp_path / "reports.jsonl"
    reports.unlink(missing_ok=True)
    journal = tmp_path / "journal.sqlite"
    for leftover in tmp_path.glob("journal.sqlite*"):
        leftover.unlink()
    process = subprocess.Popen(
        [sys.executable, "-m", "gal_exec", "run", "--config", str(_config(tmp_path, sim)),
         "--until-done", "--signals", "-", "--reports", str(reports), "--journal", str(journal)],
        cwd=tmp_path,
        env={**os.environ, "KRAKEN_API_KEY": sim.api_key, "KRAKEN_API_SECRET": sim.api_secret},
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None and process.stderr is not None
    stderr_chunks: list[bytes] = []
    waited: list[bool] = []
    counts: list[bytes] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            stderr_chunks.append(line)
            if not line.startswith(b"gal-exec: waiting for ") or waited:
                continue
            # A drawn line may be a valid signal after all, with a bracket child that rests far
            # from the market. Once the wait makes no progress between two notices (orders
            # paced by the rate limits do progress), stop the run as a person would.
            count = line.split()[3]
            if counts and counts[-1] == count:
                waited.append(True)
                process.send_signal(signal.SIGTERM)
            counts.append(count)

    reader = threading.Thread(target=read_stderr)
    reader.start()
    try:
        for line in lines:
            process.stdin.write(line + b"\n")
        if stream_extra:
            block = b"z" * (1 << 20)
            for _ in range(stream_extra >> 20):
                process.stdin.write(block)
            process.stdin.write(b"\n" + json.dumps(valid_signal("after-huge")).encode() + b"\n")
        process.stdin.close()
    except BrokenPipeError:
        pass
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join(60)
    stderr = b"".join(stderr_chunks).decode(errors="replace")
    # split on LF only: a report may hold U+0085 or U+2028, which str.splitlines() splits on
    lines_out = reports.read_bytes().split(b"\n") if reports.exists() else []
    parsed = [json.loads(text) for text in lines_out if text]
    code = process.returncode
    if waited and code == 128 + signal.SIGTERM:
        code = 0  # stopped by us once everything was read and only live orders remained
    return code, stderr, parsed, usage.ru_maxrss * 1024


def sim_orders(sim: Simulator) -> list[dict]:
    response = requests.get(f"{sim.control_url}/orders", timeout=10)
    response.raise_for_status()
    body = response.json()
    return body["orders"] if isinstance(body, dict) else body


def check_run(tmp_path: Path, sim: Simulator, hostile: list[bytes], *, stream_extra: int = 0):
    valid_ids = [f"ok-{len(sim_orders(sim))}-{i}" for i in range(len(hostile) + 1)]
    lines: list[bytes] = []
    for index, line in enumerate(hostile):
        lines.append(json.dumps(valid_signal(valid_ids[index])).encode())
        lines.append(line)
    lines.append(json.dumps(valid_signal(valid_ids[-1])).encode())
    before = {order["cl_ord_id"] for order in sim_orders(sim)}
    code, stderr, reports, peak = run_lines(tmp_path, sim, lines, stream_extra=stream_extra)
    assert code == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert max((len(line) for line in stderr.splitlines()), default=0) < 20_000
    final: dict[str, dict] = {}
    for report in reports:
        if "client_order_id" in report:  # BatchReports carry batch_id instead
            final[report["client_order_id"]] = report
    filled = {r["signal_id"]: r for r in final.values() if r["status"] == "filled"}
    expected = set(valid_ids) | ({"after-huge"} if stream_extra else set())
    missing = expected - set(filled)
    assert not missing, f"valid signals not placed: {sorted(missing)[:5]}\n{stderr[-2000:]}"
    placed = {order["cl_ord_id"]: order for order in sim_orders(sim)}
    new = {cl: order for cl, order in placed.items() if cl not in before}
    ours = {r["client_order_id"] for r in filled.values()}
    rejected = {r["client_order_id"] for r in final.values() if r["status"] == "rejected"}
    # every valid signal reached the exchange, and no rejected one did; hostile lines that are
    # valid signals after all (a batch of good members, say) may add orders of their own
    assert ours <= set(new), "a filled report without its order on the exchange"
    assert not (rejected & set(new)), "a rejected signal has an order on the exchange"
    assert peak < PEAK_RSS_BYTES, f"peak RSS {peak / 2**20:.0f} MiB"
    return reports


@pytest.fixture(scope="module")
def sim() -> Simulator:
    with Simulator(SimConfig(tier="pro")) as simulator:
        yield simulator


def test_the_catalog_through_the_run_command(tmp_path: Path, sim: Simulator) -> None:
    reports = check_run(tmp_path, sim, catalog())
    reasons = [r.get("reason") or "" for r in reports if r.get("status") == "rejected"]
    for expected in (
        "quantity out of range",
        "price out of range",
        "sl_price out of range",
        "trigger_price out of range",
        "timeout_s out of range",
        "nesting deeper than 64",
        "not valid UTF-8",
        "contains a NUL byte",
    ):
        assert any(expected in reason for reason in reasons), expected
    assert all(len(reason) < 1_200 for reason in reasons)


def test_an_over_long_line_streamed_in_costs_no_memory(tmp_path: Path, sim: Simulator) -> None:
    check_run(tmp_path, sim, [b'{"type":"Resume"}'], stream_extra=64 << 20)


@pytest.mark.slow
def test_a_gigabyte_line_costs_no_memory(tmp_path: Path, sim: Simulator) -> None:
    check_run(tmp_path, sim, [b'{"type":"Resume"}'], stream_extra=1 << 30)


@fuzz_settings(2, shrink=False, derandomize=True)
@given(hostile=st.lists(hostile_line, min_size=10, max_size=25))
def test_drawn_hostile_lines_through_the_run_command(tmp_path, sim, hostile) -> None:
    check_run(tmp_path, sim, hostile)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@fuzz_settings(25, shrink=False)
@given(hostile=st.lists(hostile_line, min_size=20, max_size=60))
def test_drawn_hostile_lines_through_the_run_command_long(tmp_path, sim, hostile) -> None:
    check_run(tmp_path, sim, hostile)
