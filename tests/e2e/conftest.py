"""Fixtures for the end-to-end tests: a harness factory that always stops what it started."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import Harness


@pytest.fixture(autouse=True)
def _pykka_logging(caplog: pytest.LogCaptureFixture) -> None:
    """Actor crashes are logged by pykka; keep them in the captured log of a failing test."""
    caplog.set_level(logging.INFO, logger="pykka")


@pytest.fixture
def start_harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    """``start_harness(sim=..., config=..., stream=...)`` starts a simulator and an engine."""
    started: list[Harness] = []

    def start(**options: Any) -> Harness:
        harness = Harness(tmp_path / f"run{len(started)}")
        harness.tmp_path.mkdir(parents=True, exist_ok=True)
        started.append(harness)
        return harness.start(**options)

    try:
        yield start
    finally:
        for harness in reversed(started):
            harness.close()


@pytest.fixture
def harness(start_harness: Callable[..., Harness]) -> Harness:
    """The default set-up: pro tier, executions stream on, flat market."""
    return start_harness()
