"""The benchmark scripts stay runnable: every case module imports, and the configurations they
build pass the engine's own validation (a config rule added later once broke a case unnoticed).
The benchmarks themselves run by hand (scripts/bench.py), never in the suite."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from gal_exec.config import decode_config, load_config

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture(autouse=True)
def _scripts_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SCRIPTS))


def _fake_sim() -> SimpleNamespace:
    return SimpleNamespace(
        rest_url="http://127.0.0.1:1",
        endpoints={"ws_url": "ws://127.0.0.1:1/v2", "ws_auth_url": "ws://127.0.0.1:1/v2"},
    )


@pytest.mark.parametrize(
    "module",
    ["bench", "bench_engine", "bench_latency", "bench_load", "bench_scale", "bench_scaleout"],
)
def test_each_case_module_imports(module: str) -> None:
    assert importlib.import_module(module) is not None
    for name, (case_module, function) in importlib.import_module("bench").CASES.items():
        assert callable(getattr(importlib.import_module(case_module), function)), name


def test_the_scale_out_configs_pass_validation(tmp_path: Path) -> None:
    bench_scaleout = importlib.import_module("bench_scaleout")
    sections = bench_scaleout._sections(_fake_sim(), "bench-x", tmp_path)
    config = decode_config(sections)
    assert config.exchange.mode == "kraken" and config.redis is not None
    # The failover case writes the same sections as TOML for `gal-exec run --config`.
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{name} = {bench_scaleout.json.dumps(value)}" for name, value in values.items()]
    path = tmp_path / "node.toml"
    path.write_text("\n".join(lines) + "\n")
    assert load_config(path).redis == config.redis
