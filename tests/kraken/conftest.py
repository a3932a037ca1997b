"""Shared fixtures for the Kraken protocol tests: the stored Kraken samples beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kraken_samples import SAMPLES_DIR


def _rest_sample_names() -> list[str]:
    """REST reply samples (not WS, not the signing vector), by file name."""
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(
        path.name
        for path in SAMPLES_DIR.glob("*-response-*.json")
        if not path.name.startswith("ws-")
    )


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The samples directory; skips the test with the reason when it is not checked out."""
    if not SAMPLES_DIR.is_dir():
        pytest.skip(f"Kraken samples not found at {SAMPLES_DIR} (clone shared/ beside the repo)")
    return SAMPLES_DIR


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes ``rest_sample_name`` runs once per stored REST reply sample."""
    if "rest_sample_name" in metafunc.fixturenames:
        metafunc.parametrize("rest_sample_name", _rest_sample_names())
