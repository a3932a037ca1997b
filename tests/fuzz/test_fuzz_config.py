"""Hostile configuration files: one line naming the file (and the key), never a traceback, never
a secret-shaped value echoed, never a value that could crash the engine accepted."""

from __future__ import annotations

import base64
import math
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from hostile import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from gal_exec.config import Config, ConfigError, load_config

FAST = fuzz_settings(300)
SLOW = fuzz_settings(5_000)


def _keys() -> list[tuple[str, str, object]]:
    """(section, key, msgspec type info) for every key of the configuration."""
    keys = []
    for section in msgspec.inspect.type_info(Config).fields:
        struct = section.type.cls  # type: ignore[union-attr]
        for field in msgspec.inspect.type_info(struct).fields:
            keys.append((section.name, field.name, field.type))
    return keys


KEYS = _keys()
NUMBER_KEYS = [
    (s, k, t.le if t.le is not None else t.lt, isinstance(t, msgspec.inspect.FloatType))
    for s, k, t in KEYS
    if isinstance(t, msgspec.inspect.FloatType | msgspec.inspect.IntType) and k != "seed"
]
SECRET_SHAPED = st.one_of(
    st.binary(min_size=64, max_size=64).map(lambda b: base64.b64encode(b).decode()),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", min_size=40, max_size=120).filter(
        lambda s: any(c in s for c in "+/=")
    ),
)  # fmt: skip

toml_values = st.one_of(
    st.sampled_from(["inf", "-inf", "nan", "+inf", "1e10", "1e300", "-1", "0", "9223372036854775807"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.text(max_size=30).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.sampled_from(["true", "[]", "{}", "[[1]]", '"' + "9" * 60 + '"', "1979-05-27"]),
)  # fmt: skip


def outcome(path: Path) -> Config | str:
    try:
        return load_config(path)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and "Traceback" not in message
        assert message.startswith(f"{path}: ")
        assert len(message) < 600, message
        return message


def check_config(config: Config) -> None:
    """Every number an accepted config holds is finite and within its key's declared bound."""
    for section, key, kind in KEYS:
        value = getattr(getattr(config, section), key)
        if isinstance(kind, msgspec.inspect.ListType):
            kind = kind.item_type
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, float):
                bound = getattr(kind, "le", None) or getattr(kind, "lt", None)
                assert math.isfinite(item) and bound is not None and item <= bound, (key, item)


def check_any(tmp_path: Path, section: str, key: str, value: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n", encoding="utf-8")
    result = outcome(path)
    if isinstance(result, Config):
        check_config(result)
    else:
        assert f"{section}.{key}" in result or "not valid TOML" in result or ":" in result


@FAST
@given(key=st.sampled_from([(s, k) for s, k, _ in KEYS]), value=toml_values)
def test_any_value_of_any_key_is_accepted_sanely_or_one_line(tmp_path, key, value) -> None:
    check_any(tmp_path, key[0], key[1], value)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@SLOW
@given(key=st.sampled_from([(s, k) for s, k, _ in KEYS]), value=toml_values)
def test_any_value_of_any_key_long(tmp_path, key, value) -> None:
    check_any(tmp_path, key[0], key[1], value)


@FAST
@given(key=st.sampled_from(NUMBER_KEYS), data=st.data())
def test_no_number_key_takes_an_infinite_nan_or_out_of_bound_value(tmp_path, key, data) -> None:
    section, name, bound, is_float = key
    beyond = st.floats(min_value=bound, exclude_min=True, allow_infinity=False).map(repr)
    if not is_float:
        beyond = st.integers(min_value=int(bound) + 1, max_value=2**63 - 1).map(str)
    value = data.draw(
        st.one_of(beyond, st.sampled_from(["inf", "-inf", "nan"])) if is_float else beyond
    )
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{name} = {value}\n", encoding="utf-8")
    result = outcome(path)
    assert isinstance(result, str), f"{section}.{name} = {value} was accepted"
    assert f"{section}.{name}: " in result


@FAST
@given(which=st.sampled_from(["api_key_env", "api_secret_env"]), secret=SECRET_SHAPED)
def test_secret_shaped_values_are_never_echoed(tmp_path, which, secret) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[exchange]\n{which} = "{secret}"\n', encoding="utf-8")
    result = outcome(path)
    assert isinstance(result, str)
    assert secret not in result and secret[:10] not in result


@FAST
@given(depth=st.integers(min_value=1, max_value=3_000), kind=st.sampled_from(["[", "{ a = "]))
def test_nesting_is_one_line(tmp_path, depth, kind) -> None:
    closer = "]" if kind == "[" else "}"
    path = tmp_path / "config.toml"
    path.write_text("x = " + kind * depth + "1" + closer * depth + "\n", encoding="utf-8")
    assert isinstance(outcome(path), str)


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe", b"[exchange]\nmode = \x00\n", b"\xef\xbb\xbf[exchange]\n", b"[" * 100_000],
    ids=["utf16-bom", "nul", "utf8-bom", "brackets"],
)
def test_bad_bytes_are_one_line(tmp_path, data) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(data)
    assert isinstance(outcome(path), str)


@pytest.mark.parametrize(
    "text",
    [
        "[exchange]\nconnect_timeout_s = inf\n",
        "[exchange]\nread_timeout_s = 1e300\n",
        "[retry]\nmax_delay_s = inf\n",
        "[orders]\nlimit_timeout_s = inf\n",
        "[orders]\npoll_interval_s = inf\n",
        "[orders]\nstream_up_poll_interval_s = 1e10\n",
        '[exchange]\napi_secret_env = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="\n',
        "x = " + "[" * 10_000 + "]" * 10_000 + "\n",
    ],
    ids=["connect-inf", "read-1e300", "retry-inf", "limit-inf", "poll-inf", "audit-1e10",
         "secret", "nesting"],
)  # fmt: skip
def test_the_run_command_says_one_line_and_exits_2(tmp_path, text) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "gal_exec", "run", "--config", str(path), "--until-done"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}: "), result.stderr[-2000:]
    assert "kQH5HW" not in result.stderr
