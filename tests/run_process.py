"""A ``gal-exec`` subprocess whose output lines are read as they come (for signal tests)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

WAIT_S = 60.0


class RunProcess:
    """``python -m gal_exec <args>`` with stdout and stderr collected line by line."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gal_exec", *args],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._pump, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, name: str, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self._lines.put((name, line.rstrip("\n")))
        self._lines.put((name, None))

    def wait_for(self, predicate: Callable[[str, str], bool], what: str) -> str:
        """Block until a line (stream name, text) satisfies ``predicate``; returns the text."""
        while True:
            try:
                name, line = self._lines.get(timeout=WAIT_S)
            except queue.Empty:
                self.kill()
                raise AssertionError(f"no {what} within {WAIT_S:g} s") from None
            if line is None:
                if self.process.poll() is not None and all(
                    not reader.is_alive() for reader in self._readers
                ):
                    self._drain()
                    raise AssertionError(f"the process ended before {what}:\n" + self.text())
                continue
            (self.stdout if name == "stdout" else self.stderr).append(line)
            if predicate(name, line):
                return line

    def send(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def finish(self) -> int:
        """Wait for the exit; returns the status with every remaining line collected."""
        try:
            code = self.process.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("the process did not exit:\n" + self.text()) from None
        for reader in self._readers:
            reader.join(WAIT_S)
        self._drain()
        return code

    def _drain(self) -> None:
        while True:
            try:
                name, line = self._lines.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                (self.stdout if name == "stdout" else self.stderr).append(line)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(WAIT_S)

    def text(self) -> str:
        return "\n".join(self.stderr[-60:])
