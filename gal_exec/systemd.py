"""systemd's notify protocol with the standard library: READY, STATUS, WATCHDOG and STOPPING.

Under a unit with ``Type=notify`` systemd sets ``$NOTIFY_SOCKET``: a datagram sent there tells it
the service is ready (once start-up recovery is done) or stopping. With ``WatchdogSec=`` it also
sets ``$WATCHDOG_USEC``; the service must then send ``WATCHDOG=1`` more often than that or be
restarted. Here a thread sends it every half period, and only while the liveness probe passes
(every actor answers), so a wedged engine is restarted; ``STATUS=`` carries the readiness verdict
(``systemctl status`` shows it). Without ``$NOTIFY_SOCKET`` nothing here runs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Notifier", "notify"]

log = logging.getLogger("gal_exec.systemd")

Probe = Callable[[], tuple[bool, dict[str, Any]]]


def notify(message: str, socket_path: str) -> bool:
    """Send one notification (``"READY=1"``, ``"WATCHDOG=1"``...) to ``socket_path``; an
    address starting with ``@`` is in the abstract namespace. False if it could not be sent."""
    address = "\0" + socket_path[1:] if socket_path.startswith("@") else socket_path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("systemd notification failed (%s): %s", socket_path, exc)
        return False
    return True


class Notifier:
    """Tells systemd READY=1 now, then WATCHDOG=1 while ``live`` passes, STOPPING=1 at the end."""

    def __init__(
        self,
        socket_path: str,
        *,
        live: Probe,
        ready: Probe,
        watchdog_interval_s: float | None = None,
    ) -> None:
        self.socket_path = socket_path
        self.live = live
        self.ready = ready
        self.watchdog_interval_s = watchdog_interval_s
        self.pings = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_environment(
        cls, *, live: Probe, ready: Probe, environ: Mapping[str, str] = os.environ
    ) -> Notifier | None:
        """A Notifier when systemd asked for notifications ($NOTIFY_SOCKET), else None."""
        socket_path = environ.get("NOTIFY_SOCKET", "")
        if not socket_path:
            return None
        interval = None
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            interval = int(usec) / 1_000_000 / 2
        return cls(socket_path, live=live, ready=ready, watchdog_interval_s=interval)

    def start(self) -> None:
        notify(f"READY=1\nSTATUS={self._status()}", self.socket_path)
        if self.watchdog_interval_s is not None:
            self._thread = threading.Thread(target=self._run, name="gal-exec-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        notify("STOPPING=1\nSTATUS=stopping", self.socket_path)

    def _run(self) -> None:
        assert self.watchdog_interval_s is not None
        while not self._stop.wait(self.watchdog_interval_s):
            self.tick()

    def tick(self) -> bool:
        """One watchdog period: ping (with the readiness status) if the engine is alive; True
        when a ping was sent."""
        try:
            alive, detail = self.live()
        except Exception as exc:
            alive, detail = False, {"error": str(exc)}
        if not alive:
            # No ping: systemd restarts the service once the watchdog period passes.
            log.warning("liveness failed, withholding the watchdog ping: %s", detail)
            return False
        if not notify(f"WATCHDOG=1\nSTATUS={self._status()}", self.socket_path):
            return False
        self.pings += 1
        return True

    def _status(self) -> str:
        try:
            ready, body = self.ready()
        except Exception as exc:
            return f"not ready: {exc}"
        reasons = body.get("reasons") or []
        return "ready" if ready else "not ready: " + "; ".join(reasons)
