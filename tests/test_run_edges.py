"""`gal-exec run` at its edges, in subprocesses: hostile signal files, signals from supervisors and
people, the stop policy in the summary, the console, and where a simulator run keeps its journal."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from run_process import RunProcess

from tests.signal_support import signal_json

pytestmark = pytest.mark.timeout(120)


def run(args: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gal_exec", "run", "--config", "/dev/null", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=100,
    )


signal_line = signal_json


def final_reports(path: Path) -> dict[str, dict]:
    final: dict[str, dict] = {}
    for text in path.read_text().splitlines():
        report = json.loads(text)
        final[report["signal_id"] or report["reason"]] = report
    return final


def test_hostile_lines_are_each_one_rejection_and_every_other_line_is_placed(tmp_path: Path):
    lines = [
        b"\xef\xbb\xbf" + signal_line("bom"),  # 1: BOM, accepted
        b"\xff",  # 2: invalid UTF-8
        signal_line("crlf") + b"\r",  # 3: CRLF, accepted
        signal_line("bare-cr").replace(b'"side"', b'\r"side"'),  # 4: CR inside, accepted
        b'{"type":"Resume"\x00}',  # 5: NUL
        b"[" * 800 + b"]" * 800,  # 6: deep nesting (a segfault on a small stack)
        b"[" * 200_000,  # 7: deeper (a RecursionError)
        b"x" * (3 << 20),  # 8: 3 MiB
        signal_line("big-qty", quantity="100000000000000000000"),  # 9
        signal_line("tiny-sl", order_type="limit", limit_price="30000.0", sl_price="1E-999999999"),
        signal_line("huge-timeout", order_type="limit", limit_price="30000.0", timeout_s=9.3e9),
        signal_line("long-side", side="s" * 100_000),  # 12
        signal_line("last"),  # 13
    ]
    (tmp_path / "s.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    result = run(
        ["--until-done", "--signals", "s.jsonl", "--reports", "r.jsonl", "--journal", "j.sqlite"],
        tmp_path,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    final = final_reports(tmp_path / "r.jsonl")
    for placed in ("bom", "crlf", "bare-cr", "last"):
        assert final[placed]["status"] == "filled", final[placed]
    by_line = {
        int(reason.split(":")[0].split()[1]): reason
        for reason in (r["reason"] or "" for r in final.values())
        if reason.startswith("line ")
    }
    assert by_line[2] == "line 2: not valid UTF-8 (byte 0xff at byte 1)"
    assert by_line[5] == "line 5: contains a NUL byte (at byte 17)"
    assert by_line[6] == by_line[6].replace("6", "6") == "line 6: nesting deeper than 64"
    assert by_line[7] == "line 7: nesting deeper than 64"
    assert by_line[8].startswith("line 8: line longer than 1048576 bytes")
    assert by_line[12].startswith("line 12: invalid enum value 'sssss") and len(by_line[12]) < 200
    assert final["big-qty"]["reason"].startswith("quantity out of range")
    assert final["tiny-sl"]["reason"].startswith("sl_price out of range")
    assert final["huge-timeout"]["reason"].startswith("timeout_s out of range")
    for number in (2, 5, 6, 7, 8, 12):
        assert f"signals line {number} rejected: " in stderr
    assert max(len(line) for line in stderr.splitlines()) < 2000


def test_a_read_failure_is_said_and_exits_1(tmp_path: Path):
    unreadable = Path("/proc/self/clear_refs")  # opens, then every read fails with EINVAL
    if not unreadable.exists():
        pytest.skip("needs Linux /proc")
    result = run(["--until-done", "--signals", str(unreadable), "--journal", "j.sqlite"], tmp_path)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr[-2000:]
    assert "signals: cannot read line 1: Invalid argument; the rest of the input was not read" in (
        stderr
    )
    assert "reading failed: cannot read line 1" in stderr and "Traceback" not in stderr


def _cancel_config(tmp_path: Path, *extra: str) -> Path:
    config = tmp_path / "cancel.toml"
    config.write_text('[engine]\non_stop = "cancel"\n[reports]\nstdout = true\n' + "".join(extra))
    return config


def _resting_signals(tmp_path: Path, count: int = 3) -> Path:
    path = tmp_path / "limits.jsonl"
    path.write_bytes(
        b"\n".join(
            signal_line(f"rest-{i}", order_type="limit", limit_price="30000.0")
            for i in range(count)
        )
        + b"\n"
    )
    return path


def _start_with_open_orders(tmp_path: Path, config: Path, count: int = 3) -> RunProcess:
    signals = _resting_signals(tmp_path, count)
    process = RunProcess(
        ["run", "--config", str(config), "--signals", str(signals), "--journal", "j.sqlite"],
        tmp_path,
    )
    opened: set[str] = set()

    def all_open(name: str, line: str) -> bool:
        if name == "stdout" and '"status":"open"' in line:
            opened.add(json.loads(line)["client_order_id"])
        return len(opened) == count

    process.wait_for(all_open, f"{count} open orders")
    return process


def test_ctrl_c_runs_the_cancel_policy_then_the_summary_says_what_was_canceled(tmp_path: Path):
    process = _start_with_open_orders(tmp_path, _cancel_config(tmp_path))
    process.send(signal.SIGINT)
    code = process.finish()
    stderr = "\n".join(process.stderr)
    assert code == 130, stderr
    summary = stderr[stderr.index("gal-exec summary") :]
    assert "still live" not in summary
    assert "open at stop: 3 (on_stop = cancel): 3 canceled (" in summary
    canceled = [json.loads(x) for x in process.stdout if '"status":"canceled"' in x]
    assert len(canceled) == 3
    # the summary comes after the cancels were confirmed, not before
    assert stderr.index("halted: engine stopping") < stderr.index("gal-exec summary")


@pytest.mark.parametrize(
    "first, second", [(signal.SIGTERM, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT)]
)
def test_a_repeated_stop_from_a_supervisor_is_still_a_clean_stop(tmp_path: Path, first, second):
    # Cancels take a second at the exchange, so the second signal lands during the stop policy.
    faults = tmp_path / "faults.json"
    faults.write_text(
        json.dumps({"rules": [{"endpoint": "CancelOrder", "kind": "latency", "delay_s": 1.0}]})
    )
    config = _cancel_config(tmp_path, f'[sim]\nfaults = "{faults}"\n')
    process = _start_with_open_orders(tmp_path, config)
    process.send(first)
    process.wait_for(lambda _n, line: "gal-exec: stopping on" in line, "the stop notice")
    process.send(second)
    code = process.finish()
    stderr = "\n".join(process.stderr)
    assert code == 128 + first, stderr
    assert "exiting now" not in stderr
    assert "open at stop: 3 (on_stop = cancel): 3 canceled" in stderr


def test_a_second_ctrl_c_forces_the_exit_with_a_one_line_account(tmp_path: Path):
    faults = tmp_path / "faults.json"
    faults.write_text(
        json.dumps({"rules": [{"endpoint": "CancelOrder", "kind": "latency", "delay_s": 30.0}]})
    )
    config = _cancel_config(tmp_path, f'[sim]\nfaults = "{faults}"\n')
    process = _start_with_open_orders(tmp_path, config)
    process.send(signal.SIGINT)
    process.wait_for(lambda _n, line: "gal-exec: stopping on" in line, "the stop notice")
    process.send(signal.SIGINT)
    code = process.finish()
    assert code == 130
    (forced,) = [line for line in process.stderr if "exiting now" in line]
    assert forced.startswith("gal-exec: second SIGINT, exiting now without the stop policy")
    assert "Last seen: live 3, queued 0" in forced
    assert not any("gal-exec summary" in line for line in process.stderr)


def test_gnu_timeout_stops_the_run_cleanly(tmp_path: Path):
    timeout = shutil.which("timeout")
    if timeout is None:
        pytest.skip("needs GNU timeout")
    signals = _resting_signals(tmp_path)
    config = _cancel_config(tmp_path)
    result = subprocess.run(
        [timeout, "3", sys.executable, "-m", "gal_exec", "run", "--config", str(config),
         "--signals", str(signals), "--journal", "j.sqlite"],
        cwd=tmp_path, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    assert result.returncode == 124  # timeout's own status: it had to stop the command
    assert "exiting now" not in result.stderr
    assert "gal-exec summary (" in result.stderr and "stopped on SIGTERM" in result.stderr


def test_until_done_says_what_it_waits_for(tmp_path: Path):
    signals = _resting_signals(tmp_path, 1)
    process = RunProcess(
        ["run", "--config", "/dev/null", "--until-done", "--signals", str(signals),
         "--journal", "j.sqlite"],
        tmp_path,
    )  # fmt: skip
    line = process.wait_for(lambda _n, text: "waiting for" in text, "the waiting notice")
    assert line.startswith("gal-exec: waiting for 1 live order: ")
    assert "XBT/USD entry limit open (oldest " in line
    process.send(signal.SIGTERM)
    assert process.finish() == 143


def test_log_json_writes_only_json_with_the_summary_as_a_record(tmp_path: Path):
    stdin = b"\n".join([signal_line("j-1"), b"{not json", signal_line("j-2")]) + b"\n"
    result = subprocess.run(
        [sys.executable, "-m", "gal_exec", "run", "--config", "/dev/null", "--log-json",
         "--until-done", "--signals", "-", "--journal", "j.sqlite"],
        cwd=tmp_path, input=stdin, capture_output=True, timeout=100,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stderr.decode().splitlines()]
    (summary,) = [record["summary"] for record in records if "summary" in record]
    assert summary["signals"] == {
        "lines": 3,
        "submitted": 2,
        "rejected": 1,
        "failure": None,
        "interrupted": False,
    }
    assert summary["at_stop"]["open_count"] == 0 and summary["journal"] == "j.sqlite"
    assert any("signals line 2 rejected" in record["message"] for record in records)


def test_sim_runs_get_a_fresh_journal_each_so_a_replay_is_placed_again(tmp_path: Path):
    stdin = signal_line("again") + b"\n"
    journals = []
    for _ in range(2):
        result = run(["--until-done", "--signals", "-", "--reports", "r.jsonl"], tmp_path, stdin)
        stderr = result.stderr.decode()
        assert result.returncode == 0, stderr[-2000:]
        (notice,) = [line for line in stderr.splitlines() if line.startswith("gal-exec: journal ")]
        journal = notice.removeprefix("gal-exec: journal ").split(";")[0]
        assert journal.startswith("var/runs/") and journal.endswith("/journal.sqlite")
        assert (tmp_path / journal).is_file()
        journals.append(journal)
        (report,) = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()[-1:]]
        assert report["status"] == "filled", report
    assert journals[0] != journals[1]
    assert not (tmp_path / "var" / "journal.sqlite").exists()
    # `gal-exec orders` finds the newest run by itself
    listing = subprocess.run(
        [sys.executable, "-m", "gal_exec", "orders", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    assert [order["signal_id"] for order in json.loads(listing.stdout)] == ["again"]


def test_orders_into_a_closed_pipe_ends_quietly(tmp_path: Path):
    run(["--until-done", "--signals", "-", "--journal", "j.sqlite"], tmp_path, signal_line("p"))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (say `head`) has gone
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gal_exec", "orders", "--journal", "j.sqlite", "--json"],
            cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == ""


def test_sim_into_a_closed_pipe_ends_quietly(tmp_path: Path):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gal_exec", "sim"],
            cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
