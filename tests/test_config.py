"""Configuration: defaults, and exactly one line naming the file and key for every kind of bad file."""

from __future__ import annotations

import os
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
        (
            '[exchange]\nmode = "live"\n',
            'exchange.mode: expected one of sim, paper, kraken; got "live"',
        ),
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


def test_live_modes_default_to_protective_risk_limits_with_market_data(tmp_path):
    for mode in ("kraken", "paper"):
        config = load_config(
            write(tmp_path, f'[exchange]\nmode = "{mode}"\n[market_data]\npairs = ["XBT/USD"]\n')
        )
        assert config.risk.market_notional_cap == "5000"
        assert config.risk.max_exposure_per_pair == "25000"
        assert config.risk.max_exposure_total == "50000"
        assert config.market_data.enabled is True
    sim = load_config(write(tmp_path, "[risk]\nprice_band_pct = 0.0\n"))
    assert sim.risk.market_notional_cap == "0" and sim.market_data.enabled is False


def test_live_defaults_are_easy_to_raise_or_turn_off(tmp_path):
    raised = load_config(
        write(
            tmp_path,
            '[exchange]\nmode = "kraken"\n[market_data]\npairs = ["XBT/USD"]\n'
            '[risk]\nmarket_notional_cap = "250000"\n',
        )
    )
    assert raised.risk.market_notional_cap == "250000"
    assert raised.risk.max_exposure_total == "50000"
    off = load_config(
        write(
            tmp_path,
            '[exchange]\nmode = "kraken"\n[risk]\nmarket_notional_cap = "0"\n'
            'max_exposure_per_pair = "0"\nmax_exposure_total = "0"\n',
        )
    )
    assert off.market_data.enabled is False and off.risk.market_notional_cap == "0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[exchange]\nmode = "kraken"\n',
            'market_data.pairs: list the pairs you trade, e.g. ["XBT/USD"]',
        ),
        (
            '[exchange]\nmode = "kraken"\n[market_data]\nenabled = false\npairs = ["XBT/USD"]\n',
            "market_data.enabled: must be on in exchange.mode = 'kraken': the risk limits need "
            "prices (set risk.market_notional_cap, risk.max_exposure_per_pair and "
            'risk.max_exposure_total to "0" to trade without them)',
        ),
        (
            '[risk]\nmarket_notional_cap = "lots"\n',
            'risk.market_notional_cap: expected a decimal number as a string, like "0.25" (up to '
            '20 digits, 18 decimals), or "auto"; got "lots"',
        ),
    ],
)
def test_live_mode_config_errors_are_one_line_naming_the_key(tmp_path, text, expected):
    assert expected in error_for(tmp_path, text)


def test_a_config_built_in_python_gets_the_same_live_defaults():
    from gal_exec.config import ExchangeConfig

    config = Config(exchange=ExchangeConfig(mode="kraken"))
    assert config.risk.market_notional_cap == "5000" and config.market_data.enabled is True
    assert Config().risk.market_notional_cap == "0"


DURATION_KEYS = [
    ("exchange", "connect_timeout_s"),
    ("exchange", "read_timeout_s"),
    ("engine", "dead_man_refresh_s"),
    ("engine", "stream_silence_s"),
    ("orders", "limit_timeout_s"),
    ("orders", "poll_interval_s"),
    ("orders", "stream_up_poll_interval_s"),
    ("orders", "resolve_delay_s"),
    ("orders", "cancel_retry_s"),
    ("retry", "base_delay_s"),
    ("retry", "max_delay_s"),
    ("circuit_breaker", "window_s"),
    ("circuit_breaker", "open_s"),
    ("sim", "step_interval_s"),
    ("market_data", "stale_after_s"),
    ("market_data", "max_unchanged_s"),
    ("market_data", "rest_poll_interval_s"),
    ("market_data", "volatility_sample_s"),
    ("market_data", "liveness_timeout_s"),
]


@pytest.mark.parametrize(("section", "key"), DURATION_KEYS)
@pytest.mark.parametrize("value", ["inf", "1e10", "1e300", "nan", "-inf"])
def test_every_duration_is_finite_and_bounded(tmp_path, section, key, value):
    message = error_for(tmp_path, f"[{section}]\n{key} = {value}\n")
    assert f"config.toml: {section}.{key}: expected a number " in message


def test_every_float_key_of_the_config_has_a_finite_bound() -> None:
    """No float key may accept inf: each carries an upper bound (le) in its type."""
    import msgspec

    unbounded = []
    for section in msgspec.inspect.type_info(Config).fields:
        section_info = msgspec.inspect.type_info(section.type.cls)  # type: ignore[union-attr]
        for field in section_info.fields:
            kind = field.type
            if isinstance(kind, msgspec.inspect.ListType):
                kind = kind.item_type
            numeric = isinstance(kind, msgspec.inspect.FloatType | msgspec.inspect.IntType)
            if numeric and kind.le is None and kind.lt is None and field.name != "seed":
                unbounded.append(f"{section.name}.{field.name}")
    assert unbounded == []


def test_a_bound_is_said_plainly(tmp_path):
    message = error_for(tmp_path, "[exchange]\nread_timeout_s = inf\n")
    assert message.endswith("exchange.read_timeout_s: expected a number at most 86400; got inf")


def test_deeply_nested_toml_is_one_line(tmp_path):
    message = error_for(tmp_path, "a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert message == f"{tmp_path / 'config.toml'}: not valid TOML: nested too deeply"


def test_a_directory_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a configuration file"


def test_an_unreadable_path_is_one_line(tmp_path):
    too_long = tmp_path / ("x" * 300) / "config.toml"
    with pytest.raises(ConfigError) as info:
        load_config(too_long)
    assert str(info.value) == f"{too_long}: cannot read: File name too long"


@pytest.mark.skipif(os.geteuid() == 0, reason="root enters any folder")
def test_a_folder_the_user_cannot_enter_is_one_line(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "config.toml").write_text("")
    locked.chmod(0)
    try:
        with pytest.raises(ConfigError) as info:
            load_config(locked / "config.toml")
    finally:
        locked.chmod(0o755)
    assert str(info.value) == f"{locked / 'config.toml'}: cannot read: Permission denied"


SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="


@pytest.mark.parametrize("key", ["api_key_env", "api_secret_env"])
@pytest.mark.parametrize("value", [SECRET, "has space", "1STARTS_WITH_DIGIT", "x" * 129])
def test_a_value_that_is_not_a_variable_name_is_never_echoed(tmp_path, key, value):
    message = error_for(tmp_path, f'[exchange]\n{key} = "{value}"\n')
    assert f"exchange.{key}: holds something that is not an environment variable name" in message
    assert value not in message and value[:8] not in message


def test_the_readme_python_example_loads_the_shipped_config(monkeypatch):
    monkeypatch.chdir(ROOT)  # a fresh clone's root, where the example runs
    assert load_config("config.toml") == Config()
    assert load_config() == Config()
