"""`gal-exec run` end to end, in subprocesses: signals in, reports out, bad lines, secrets never written."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from gal_exec.sim.server import Simulator

pytestmark = pytest.mark.timeout(120)


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "gal_exec", "run", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=100,
    )


def signal(signal_id: str, **fields) -> str:
    body = {
        "type": "TradeSignalApproved",
        "signal_id": signal_id,
        "pair": "XBT/USD",
        "side": "buy",
        "order_type": "market",
        "quantity": "0.01",
    }
    body.update(fields)
    return json.dumps(body)


def test_until_done_with_a_bad_line_and_a_bad_signal(tmp_path):
    lines = [
        signal("ok-1"),
        "{this is not json",
        signal("ok-2", side="sell"),
        signal("bad-pair", pair="NOPE/USD"),
    ]
    reports_file = tmp_path / "reports.jsonl"
    result = run(
        ["--until-done", "--signals", "-", "--reports", str(reports_file), "--journal", "j.sqlite"],
        tmp_path,
        stdin="\n".join(lines) + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    reports = [json.loads(line) for line in reports_file.read_text().splitlines()]
    final = {}
    for report in reports:
        final[report["signal_id"] or report["reason"]] = report
    assert final["ok-1"]["status"] == "filled"
    assert final["ok-2"]["status"] == "filled"
    assert final["bad-pair"]["status"] == "rejected"
    assert "unknown pair 'NOPE/USD'" in final["bad-pair"]["reason"]
    bad_line = [r for r in reports if (r["reason"] or "").startswith("line 2:")]
    assert len(bad_line) == 1 and "not valid JSON" in bad_line[0]["reason"]
    assert "gal-exec summary" in result.stderr
    # the journal holds what was reported, readable by `gal-exec orders`
    listing = subprocess.run(
        [sys.executable, "-m", "gal_exec", "orders", "--journal", "j.sqlite", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    listed = json.loads(listing.stdout)
    assert {order["signal_id"] for order in listed} >= {"ok-1", "ok-2"}


def test_a_signal_replayed_on_the_same_journal_is_not_placed_again(tmp_path):
    line = signal("once") + "\n"
    first = run(["--until-done", "--signals", "-", "--journal", "j.sqlite"], tmp_path, stdin=line)
    assert first.returncode == 0, first.stderr
    reports_file = tmp_path / "again.jsonl"
    second = run(
        ["--until-done", "--signals", "-", "--journal", "j.sqlite", "--reports", str(reports_file)],
        tmp_path,
        stdin=line,
    )
    assert second.returncode == 0, second.stderr
    (report,) = [json.loads(x) for x in reports_file.read_text().splitlines()]
    assert report["status"] == "rejected" and "duplicate signal_id 'once'" in report["reason"]


def test_kraken_mode_without_keys_is_one_line_and_exit_2(tmp_path):
    config = tmp_path / "live.toml"
    config.write_text(
        '[exchange]\nmode = "kraken"\napi_key_env = "GAL_TEST_KEY"\n'
        '[market_data]\npairs = ["XBT/USD"]\n'
    )
    result = run(["--config", str(config)], tmp_path, env={"GAL_TEST_KEY": ""})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "GAL_TEST_KEY" in lines[0], result.stderr


def test_a_malformed_secret_is_refused_without_echoing_it(tmp_path):
    config = tmp_path / "live.toml"
    config.write_text('[exchange]\nmode = "kraken"\n[market_data]\npairs = ["XBT/USD"]\n')
    secret = "not-base64-but-recognisable-SECRETVALUE"
    result = run(
        ["--config", str(config)],
        tmp_path,
        env={"KRAKEN_API_KEY": "k" * 56, "KRAKEN_API_SECRET": secret},
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert secret not in result.stderr


def test_key_and_secret_never_appear_in_logs_reports_or_journal(tmp_path):
    """Kraken mode against a simulator account with a recognisable key and secret, DEBUG logs on."""
    api_key = "RECOGNISABLEKEY" + "x" * 41
    raw_secret = b"RECOGNISABLE-SECRET-" + bytes(range(44))
    api_secret = base64.b64encode(raw_secret).decode()
    with Simulator() as sim:
        requests.post(
            f"{sim.control_url}/accounts",
            json={"api_key": api_key, "api_secret": api_secret},
            timeout=10,
        ).raise_for_status()
        config = tmp_path / "live.toml"
        config.write_text(
            "[exchange]\n"
            'mode = "kraken"\n'
            f'rest_url = "{sim.rest_url}"\n'
            f'ws_url = "{sim.ws_url}"\n'
            f'ws_auth_url = "{sim.ws_auth_url}"\n'
            'order_entry = "rest"\n'  # the signed REST request is the one to check
            "[engine]\n"
            'dead_man_switch = "on"\n'
            "[market_data]\n"
            'pairs = ["XBT/USD"]\n'
            "[logging]\n"
            'level = "DEBUG"\n'
        )
        reports_file = tmp_path / "reports.jsonl"
        result = run(
            [
                "--config",
                str(config),
                "--until-done",
                "--signals",
                "-",
                "--reports",
                str(reports_file),
                "--journal",
                "var/j.sqlite",
            ],
            tmp_path,
            env={"KRAKEN_API_KEY": api_key, "KRAKEN_API_SECRET": api_secret},
            stdin=signal("secret-test") + "\n",
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"status":"filled"' in reports_file.read_text()
    assert "POST /0/private/AddOrder" in result.stderr  # DEBUG request logging was on
    written = [result.stdout.encode(), result.stderr.encode()]
    written += [path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()]
    for blob in written:
        for needle in (api_key, api_secret, "RECOGNISABLEKEY", "RECOGNISABLE-SECRET"):
            assert needle.encode() not in blob
    assert base64.b64encode(b"RECOGNISABLE-SECRET").decode()[:20].encode() not in b"".join(written)
