"""Lease: one engine's claim on one account, with an increasing epoch as the fencing token.

A standby waits in ``acquire`` until the lease key is free (the previous owner released it or let
it expire), then holds it: a thread renews it every ``renew_s`` through a script that checks the
token is still ours. The owner trusts the lease only until the moment it asked for the last renewal
plus the TTL minus a margin (gal_exec.core.fencing.LeaseClock), measured on its monotonic clock, so
an owner that was paused or cut off stops acting before the broker could grant the lease to anyone
else. Losing it is final: ``on_lost`` is called once and the engine fences itself.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

import redis

from gal_exec.core.fencing import LeaseClock
from gal_exec.scaleout.broker import Broker
from gal_exec.scaleout.keys import AccountKeys

__all__ = ["Lease", "new_owner_name"]

log = logging.getLogger("gal_exec.scaleout.lease")


def new_owner_name() -> str:
    """``host:pid:random``: names the owner in the lease value and its consumer in the group."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Lease:
    """Acquire, hold and renew the account's lease (one renewing thread)."""

    def __init__(
        self,
        broker: Broker,
        keys: AccountKeys,
        *,
        owner: str,
        ttl_s: float,
        renew_s: float,
        margin_s: float,
        on_lost: Callable[[str], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.broker = broker
        self.keys = keys
        self.owner = owner
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.on_lost = on_lost
        self.epoch = 0
        self.token = ""
        self.broker_remembered = True
        """False when the broker had no epoch counter at the grant (a new or wiped Redis)."""
        self.lost_reason: str | None = None
        self._monotonic = monotonic
        self._clock = LeaseClock(margin_s)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ttl_ms(self) -> int:
        return max(1, round(self.ttl_s * 1000))

    # ---- acquiring -------------------------------------------------------------------------

    def try_acquire(self, floor: int = 0) -> float | None:
        """One attempt: None when granted, else the seconds to wait before the next attempt."""
        asked = self._monotonic()
        try:
            granted, token, detail = self.broker.acquire(
                self.keys.lease, self.keys.epoch, self.owner, self.ttl_ms, floor
            )
        except redis.RedisError as exc:
            log.warning("lease: cannot reach the broker: %s", exc)
            return self.renew_s
        if not granted:
            remaining_s = detail / 1000 if detail > 0 else self.renew_s
            return max(0.005, min(remaining_s + 0.005, self.renew_s))
        with self._lock:
            self.token = token
            self.epoch = int(token.split(":", 1)[0])
            self.broker_remembered = bool(detail)
            self.lost_reason = None
            self._clock.granted(asked, self.ttl_s)
        log.info("lease of account %s taken: epoch %d", self.keys.account, self.epoch)
        return None

    def acquire(self, stop: threading.Event, floor: int = 0) -> bool:
        """Wait until the lease is ours (True) or `stop` is set (False)."""
        while not stop.is_set():
            wait = self.try_acquire(floor)
            if wait is None:
                return True
            stop.wait(wait)
        return False

    # ---- holding ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start renewing (after ``acquire``)."""
        if not self.token:
            raise RuntimeError("lease not acquired")
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{self.keys.account}", daemon=True
        )
        self._thread.start()

    def valid(self) -> bool:
        """True while this engine may act for the account (checked on every decision)."""
        with self._lock:
            return self.lost_reason is None and self._clock.valid(self._monotonic())

    def refusal(self) -> str | None:
        """The place guard: None while the lease holds, else why this engine must not place."""
        if self.valid():
            return None
        reason = self.lost_reason or "its lease ran out before it was renewed"
        return (
            f"this engine (epoch {self.epoch}) no longer owns account {self.keys.account}: {reason}"
        )

    def remaining(self) -> float:
        with self._lock:
            if self.lost_reason is not None:
                return 0.0
            return self._clock.remaining(self._monotonic())

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(min(self.renew_s, max(0.001, self.remaining())))
            if self._stop.is_set() or self.lost_reason is not None:
                return
            asked = self._monotonic()
            with self._lock:
                trusted = self._clock.valid(asked)
            if not trusted:
                self._lose("its lease ran out before it was renewed")
                return
            try:
                renewed = self.broker.renew(self.keys.lease, self.token, self.ttl_ms)
            except redis.RedisError as exc:
                log.warning("lease: renewal failed (%s); %.1f s left", exc, self.remaining())
                continue
            if not renewed:
                try:
                    holder = self.broker.holder(self.keys.lease)
                except redis.RedisError:
                    holder = None
                self._lose(f"the lease is held by {holder}" if holder else "the lease expired")
                return
            with self._lock:
                self._clock.granted(asked, self.ttl_s)

    def _lose(self, reason: str) -> None:
        with self._lock:
            if self.lost_reason is not None:
                return
            self.lost_reason = reason
            self._clock.lose()
        log.error("lease of account %s lost (epoch %d): %s", self.keys.account, self.epoch, reason)
        if self.on_lost is not None:
            try:
                self.on_lost(reason)
            except Exception:
                log.exception("lease: on_lost raised")

    def check(self) -> None:
        """Notice an expiry now (the renewing thread may be asleep or was paused)."""
        if self.lost_reason is None and not self.valid():
            self._lose("its lease ran out before it was renewed")

    def stop(self, *, release: bool = True) -> None:
        """Stop renewing; with `release`, give the lease up at once if it is still ours."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if release and self.token:
            try:
                self.broker.release(self.keys.lease, self.token)
            except redis.RedisError as exc:
                log.warning("lease: release failed (%s); it expires by itself", exc)
