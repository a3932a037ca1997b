"""Nonces for one Kraken API key: strictly increasing across threads and restarts, sent in order.

Kraken rejects a private request whose nonce is not above the last one it saw for the key
(``EAPI:Invalid nonce``), and too many of those earn a temporary ban. Two things are needed:

- :class:`NonceSequencer` hands out microsecond-epoch nonces that never repeat or go down, even
  across restarts (a high-water mark is persisted ahead of use, in blocks).
- :class:`NonceGate` makes requests *leave* in nonce order: a caller takes its nonce, signs and
  sends while holding the gate, so a later nonce can never overtake an earlier one on the wire.
  With a Kraken "nonce window" configured for the key, callers may overlap instead.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gal_exec.core.clock import Clock

__all__ = ["DEFAULT_RESERVE_US", "NonceGate", "NonceSequencer", "NonceStateError"]

DEFAULT_RESERVE_US = 10_000_000
"""How far ahead (in nonce units, i.e. microseconds) the persisted high-water mark is written."""


class NonceStateError(ValueError):
    """The persisted high-water mark cannot be read; refusing to guess a nonce floor."""


class NonceSequencer:
    """Microsecond-epoch nonces for one API key, strictly increasing across threads and restarts.

    Each nonce is ``max(now_in_microseconds, last + 1)``, so a clock that steps back never makes
    a nonce go down. With ``state_path`` the sequencer persists a high-water mark ``reserve``
    microseconds ahead of the nonces it has issued (atomically, by rename), so a restarted process
    starts above every nonce the previous one could have used, and only one call in a block
    writes the file.
    """

    def __init__(
        self,
        clock: Clock,
        state_path: Path | None = None,
        *,
        reserve: int = DEFAULT_RESERVE_US,
    ) -> None:
        if reserve < 1:
            raise ValueError("reserve must be at least 1")
        self._clock = clock
        self._state_path = Path(state_path) if state_path is not None else None
        self._reserve = reserve
        self._lock = threading.Lock()
        self._last = 0
        self._high_water = 0
        self._gate: NonceGate | None = None
        if self._state_path is not None:
            self._high_water = self._read_high_water(self._state_path)
            self._last = self._high_water

    @property
    def last(self) -> int:
        """The last nonce issued (or the floor loaded from the state file); 0 before any."""
        with self._lock:
            return self._last

    def next(self) -> int:
        """The next nonce: above every nonce issued before, by this process or a previous one."""
        with self._lock:
            nonce = max(int(self._clock.time() * 1_000_000), self._last + 1)
            if self._state_path is not None and nonce > self._high_water:
                # Persist before handing the nonce out, so a crash right after cannot reuse it.
                self._write_high_water(self._state_path, nonce + self._reserve)
                self._high_water = nonce + self._reserve
            self._last = nonce
            return nonce

    def gate(self, window: int = 0) -> NonceGate:
        """The one :class:`NonceGate` for this key, shared by every client that uses this sequencer.

        Clients built on the same sequencer must share its gate, or their requests could leave
        out of order; a second call asking for a different window is an error.
        """
        with self._lock:
            if self._gate is None:
                self._gate = NonceGate(self, window=window)
            elif self._gate.window != window:
                raise ValueError(
                    f"this key's nonce gate already uses window {self._gate.window}, not {window}"
                )
            return self._gate

    @staticmethod
    def _read_high_water(path: Path) -> int:
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        except OSError as error:
            raise NonceStateError(
                f"{path}: cannot read the nonce state file: {error.strerror or error}"
            ) from None
        except UnicodeDecodeError:
            raise NonceStateError(f"{path}: the nonce state file is not ASCII text") from None
        if not text.isdigit():
            raise NonceStateError(
                f"nonce state file {path} does not hold a non-negative integer; "
                "fix or remove it (removing is safe only if no nonce above the clock was used)"
            )
        return int(text)

    @staticmethod
    def _write_high_water(path: Path, value: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(f"{value}\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; best effort where directories cannot be opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class NonceGate:
    """Makes private requests for one key leave in nonce order.

    Use ``with gate.issue() as nonce:`` around "build the body, sign, send, read the reply". With
    ``window == 0`` (Kraken's default) the gate is held for the whole block, so requests are
    strictly serialised and arrive in nonce order whatever the network does. With a window > 0
    (a per-key tolerance configured at Kraken, in nonce units: microseconds here) the nonce is
    taken under the lock and the lock released at once, so callers overlap and rely on Kraken
    accepting nonces up to ``window`` below the highest it has seen.
    """

    def __init__(self, sequencer: NonceSequencer, *, window: int = 0) -> None:
        if window < 0:
            raise ValueError("nonce window must be >= 0")
        self._sequencer = sequencer
        self.window = window
        self._lock = threading.Lock()

    @contextmanager
    def issue(self) -> Iterator[int]:
        """Yield the next nonce; with no window, hold the gate until the block ends."""
        if self.window > 0:
            yield self._sequencer.next()
            return
        with self._lock:
            yield self._sequencer.next()
