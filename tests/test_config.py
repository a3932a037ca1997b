"""Configuration: defaults, and exactly one line naming the file and key for every kind of bad file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gal_exec.config import Config, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    assert "Traceback" not in message
    return message


def test_missing_and_empty_files_give_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(None) == Config()
    assert load_config(write(tmp_path, "")) == Config()
    assert load_config(write(tmp_path, "# only a comment\n")).exchange.mode == "sim"


def test_shipped_config_matches_defaults():
    assert load_config(ROOT / "config.toml") == Config()


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: no such file"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[exchange]\ntier = "gold"\n',
            'exchange.tier: expected one of starter, intermediate, pro; got "gold"',
        ),
        ('[exchange]\nmode = "live"\n', 'exchange.mode: expected one of sim, kraken; got "live"'),
        ("[exchange]\nbogus = 1\n", "exchange.bogus: unknown key"),
        ("surprise = true\n", "surprise: unknown key"),
        (
            "[orders]\npoll_interval_s = -1\n",
            "orders.poll_interval_s: expected a number above 0; got -1",
        ),
        (
            '[orders]\npoll_interval_s = "fast"\n',
            'orders.poll_interval_s: expected a number; got "fast"',
        ),
        (
            "[sim]\nrest_port = 70000\n",
            "sim.rest_port: expected an integer at most 65535; got 70000",
        ),
        ('[journal]\nenabled = "yes"\n', 'journal.enabled: expected true or false; got "yes"'),
        ("exchange = 3\n", "exchange: expected a table; got 3"),
        (
            "[retry]\nbase_delay_s = 5\nmax_delay_s = 1\n",
            "retry.max_delay_s: must be at least retry.base_delay_s (5.0); got 1.0",
        ),
        (
            "[engine]\ndead_man_timeout_s = 100000\n",
            "engine.dead_man_timeout_s: expected an integer at most 86399; got 100000",
        ),
        ("[exchange\n", "not valid TOML"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path, text, expected):
    message = error_for(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'config.toml'}: ")
    assert expected in message


def test_secrets_in_the_file_are_refused_without_echoing_them(tmp_path):
    message = error_for(tmp_path, '[exchange]\napi_secret = "c2VjcmV0LXZhbHVl"\n')
    assert "exchange.api_secret" in message
    assert "environment" in message
    assert "c2VjcmV0LXZhbHVl" not in message


def test_cli_prints_one_line_and_exits_2(tmp_path):
    bad = write(tmp_path, '[exchange]\ntier = "gold"\n')
    result = subprocess.run(
        [sys.executable, "-m", "gal_exec", "run", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f'{bad}: exchange.tier: expected one of starter, intermediate, pro; got "gold"'
    ]
    assert result.stdout == ""
