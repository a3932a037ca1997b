"""The collector's first threshold: raised while an engine runs, put back by the last to stop."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import msgspec
import pytest

from gal_exec import gc_tuning
from gal_exec.config import ConfigError, decode_config
from tests.e2e.support import Harness, engine_config


@pytest.fixture(autouse=True)
def _known_thresholds() -> Iterator[tuple[int, int, int]]:
    found = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield (700, 10, 10)
    finally:
        while gc_tuning._holders:
            gc_tuning.release()
        gc.set_threshold(*found)


def test_the_first_threshold_moves_and_comes_back() -> None:
    assert gc_tuning.tune(10_000)
    assert gc.get_threshold() == (10_000, 10, 10)
    gc_tuning.release()
    assert gc.get_threshold() == (700, 10, 10)


def test_the_last_holder_restores_what_the_first_found() -> None:
    assert gc_tuning.tune(10_000)
    assert gc_tuning.tune(50_000)  # a second engine: the first one's setting stands
    assert gc.get_threshold() == (10_000, 10, 10)
    gc_tuning.release()
    assert gc.get_threshold() == (10_000, 10, 10)
    gc_tuning.release()
    assert gc.get_threshold() == (700, 10, 10)
    gc_tuning.release()  # one release too many changes nothing
    assert gc.get_threshold() == (700, 10, 10)


def test_zero_leaves_the_interpreter_alone() -> None:
    assert not gc_tuning.tune(0)
    assert gc.get_threshold() == (700, 10, 10)


def test_an_engine_holds_the_setting_while_it_runs(tmp_path) -> None:
    harness = Harness(tmp_path)
    try:
        harness.start()
        assert gc.get_threshold() == (10_000, 10, 10)
    finally:
        harness.close()
    assert gc.get_threshold() == (700, 10, 10)


def test_an_engine_told_zero_does_not_touch_it(tmp_path) -> None:
    config = engine_config()
    config = msgspec.structs.replace(
        config, engine=msgspec.structs.replace(config.engine, gc_young_threshold=0)
    )
    harness = Harness(tmp_path)
    try:
        harness.start(config=config)
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        harness.close()


def test_the_config_bounds_the_threshold() -> None:
    with pytest.raises(ConfigError, match="gc_young_threshold"):
        decode_config({"engine": {"gc_young_threshold": -1}})
