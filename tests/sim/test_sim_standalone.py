"""``run_standalone`` (``gal-exec sim``): endpoints on the first line, clean stop on SIGTERM,
one clear line and exit 2 on bad arguments; and the Simulator's own surface."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sim_testkit import Client, simulator

from gal_exec.sim import DEMO_API_KEY, DEMO_API_SECRET
from gal_exec.sim.server import run_standalone

ROOT = Path(__file__).resolve().parents[2]
CODE = "import sys; from gal_exec.sim.server import run_standalone; sys.exit(run_standalone(sys.argv[1:]))"


def launch(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CODE, *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_prints_endpoints_then_serves_until_sigterm() -> None:
    process = launch("--tier", "pro", "--seed", "3", "--clock", "manual")
    try:
        assert process.stdout is not None
        endpoints = json.loads(process.stdout.readline())
        assert set(endpoints) == {
            "rest_url",
            "ws_url",
            "ws_auth_url",
            "api_key",
            "api_secret",
            "control_url",
        }
        assert endpoints["api_key"] == DEMO_API_KEY and endpoints["api_secret"] == DEMO_API_SECRET
        assert endpoints["rest_url"].startswith("http://127.0.0.1:")
        assert endpoints["control_url"] == endpoints["rest_url"] + "/sim"
        client = Client(endpoints["rest_url"])
        assert "ZUSD" in client.ok("Balance")
        _, state = client.control("GET", "state")
        assert (state["tier"], state["clock"]) == ("pro", "manual")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--tier", "gold"], "--tier"),
        (["--rest-port", "99999"], "--rest-port"),
        (["--seed", "x"], "--seed"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv: list[str], fragment: str) -> None:
    assert run_standalone(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gal-exec sim: error:") and fragment in err


def test_bad_fault_file_exits_2(capsys, tmp_path) -> None:
    missing = tmp_path / "none.json"
    assert run_standalone(["--faults", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.json" in err


def test_simulator_properties_and_restart_safety() -> None:
    sim = simulator()
    with pytest.raises(RuntimeError, match="not started"):
        _ = sim.rest_url
    with sim:
        assert sim.rest_url + "/0/private/AddOrder" == sim.rest_url.rstrip("/") + (
            "/0/private/AddOrder"
        )
        assert sim.ws_url is not None and sim.ws_url.startswith("ws://127.0.0.1:")
        assert sim.ws_auth_url is not None and sim.ws_auth_url != sim.ws_url
        assert (sim.api_key, sim.api_secret) == (DEMO_API_KEY, DEMO_API_SECRET)
        url = sim.rest_url
    sim.stop()
    with pytest.raises(ConnectionError):
        Client(url).public("Time")
