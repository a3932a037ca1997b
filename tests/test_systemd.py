"""systemd notifications over $NOTIFY_SOCKET: READY once started, WATCHDOG while alive (with the
readiness as STATUS), nothing while the engine does not answer, STOPPING at the end."""

from __future__ import annotations

import socket

import pytest

from gal_exec.config import Config, JournalConfig
from gal_exec.engine import Engine
from gal_exec.systemd import Notifier, notify

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def listener(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    try:
        yield path, sock
    finally:
        sock.close()


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_the_engine_tells_systemd_ready_then_pings_the_watchdog_then_stopping(
    listener, tmp_path, monkeypatch
):
    path, sock = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    engine = Engine.start(Config(journal=JournalConfig(path=str(tmp_path / "j.sqlite"))))
    try:
        ready = receive(sock)
        assert ready.startswith("READY=1\nSTATUS=")
        ping = receive(sock)
        while not ping.startswith("WATCHDOG=1\nSTATUS=ready"):
            ping = receive(sock)  # until the stream is up, STATUS says why it is not ready
    finally:
        engine.stop()
    last = receive(sock)
    while not last.startswith("STOPPING=1"):
        last = receive(sock)
    assert last == "STOPPING=1\nSTATUS=stopping"


def test_no_ping_while_the_engine_does_not_answer(listener):
    path, sock = listener
    notifier = Notifier(
        path,
        live=lambda: (False, {"alive": False, "actors": {"gateway": "no answer"}}),
        ready=lambda: (False, {"ready": False, "reasons": ["executions stream: not subscribed"]}),
        watchdog_interval_s=10.0,
    )
    assert notifier.tick() is False
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)
    alive = Notifier(
        path,
        live=lambda: (True, {"alive": True}),
        ready=lambda: (
            False,
            {"ready": False, "reasons": ["halted: ops", "exchange status: maintenance"]},
        ),
    )
    assert alive.tick() is True
    sock.setblocking(True)
    assert (
        receive(sock) == "WATCHDOG=1\nSTATUS=not ready: halted: ops; exchange status: maintenance"
    )


def test_environment_decides_and_abstract_sockets_work():
    probe = lambda: (True, {"ready": True, "reasons": []})  # noqa: E731
    assert Notifier.from_environment(live=probe, ready=probe, environ={}) is None
    other_pid = Notifier.from_environment(
        live=probe,
        ready=probe,
        environ={"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"},
    )
    assert other_pid is not None and other_pid.watchdog_interval_s is None
    mine = Notifier.from_environment(
        live=probe, ready=probe, environ={"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "3000000"}
    )
    assert mine is not None and mine.watchdog_interval_s == 1.5
    name = f"gal-exec-test-{id(mine)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(10)
    try:
        assert notify("READY=1", "@" + name)
        assert sock.recv(64) == b"READY=1"
    finally:
        sock.close()
    assert notify("READY=1", "/nonexistent/socket") is False
