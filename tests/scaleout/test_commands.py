"""``gal-exec send`` and ``gal-exec reports`` against a real Redis, and ``run --intake``'s refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gal_exec.cli import main
from gal_exec.messages import ExecutionReport, encode
from gal_exec.scaleout.keys import AccountKeys

pytestmark = pytest.mark.timeout(30)


def write_config(path: Path, prefix: str) -> Path:
    path.write_text(f'[redis]\nkey_prefix = "{prefix}"\n')
    return path


def test_send_publishes_valid_lines_and_names_the_bad_ones(
    tmp_path: Path, redis_url: str, redis_prefix: str, redis_client: Any, capsys: Any
) -> None:
    config = write_config(tmp_path / "c.toml", redis_prefix)
    signals = tmp_path / "signals.jsonl"
    good = {"type": "Halt", "reason": "x"}
    signals.write_text(json.dumps(good) + "\n\n" + '{"type":"Nope"}\n' + '{"type":"Resume"}\n')
    code = main(
        ["send", "--config", str(config), "--to", redis_url, "--account", "a1", str(signals)]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "line 3: unknown message type 'Nope'" in err and "2 sent" in err
    keys = AccountKeys(prefix=redis_prefix, account="a1")
    bodies = [json.loads(fields[b"msg"]) for _id, fields in redis_client.xrange(keys.signals)]
    assert bodies == [good, {"type": "Resume"}]


def test_reports_prints_the_stream_once_per_report(
    tmp_path: Path, redis_url: str, redis_prefix: str, redis_client: Any, capsys: Any
) -> None:
    config = write_config(tmp_path / "c.toml", redis_prefix)
    keys = AccountKeys(prefix=redis_prefix, account="a1")
    report = ExecutionReport(signal_id="s", client_order_id="c", status="open", sequence=1)
    for _ in range(2):  # published twice (an outbox re-publishing after a crash)
        redis_client.xadd(keys.reports, {"msg": encode(report)})
    code = main(["reports", "--config", str(config), "--from", f"{redis_url}?account=a1"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["open"]


def test_run_intake_refuses_a_file_source_and_a_bad_address(tmp_path: Path, capsys: Any) -> None:
    signals = tmp_path / "s.jsonl"
    signals.write_text("")
    assert main(["run", "--intake", "redis://h:1/0?account=a", "--signals", str(signals)]) == 2
    assert "drop --signals" in capsys.readouterr().err
    assert main(["run", "--intake", "http://h:1/0"]) == 2
    assert "expected a redis://host:port/db URL" in capsys.readouterr().err
