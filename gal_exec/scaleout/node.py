"""AccountNode: one engine process competing to own one account, and running it while it does.

A node starts as a *standby*: it waits for the account's lease. Once it holds it (epoch N) it
takes over:

1. if the broker forgot the account (no epoch counter: a new or wiped Redis) while journals of
   earlier epochs exist, it waits one lease TTL, so an owner of an older epoch has stopped acting;
2. it copies the newest journal of an earlier epoch (read-only, without its lock: the old owner
   may be frozen holding it) into its own file ``<journal_dir>/<account>/epoch-<N>.sqlite``;
3. it starts the engine on it (cl_ord_id prefix from the epoch, every placement guarded by the
   lease): recovery restores every live order and resolves it with the exchange by cl_ord_id,
   the dead man's switch is armed (live mode);
4. once the exchange stream is up (open orders reconciled), it publishes reports (Outbox) and
   only then takes signals (Intake).

If the lease is lost the node *fences* itself: Halt (no new order; cancels still work), no more
reads, acknowledgements or publishing, every placement refused at the last moment; then it stops
the engine without cancelling (the next owner adopts the orders) and exits, or waits (on_fence).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gal_exec.config import Config
from gal_exec.core.fencing import epoch_prefix
from gal_exec.engine import Engine
from gal_exec.journal import copy_journal, set_journal_epoch
from gal_exec.messages import ExecutionReport, Halt
from gal_exec.scaleout.broker import Broker, connect
from gal_exec.scaleout.intake import Intake
from gal_exec.scaleout.keys import AccountKeys
from gal_exec.scaleout.lease import Lease, new_owner_name
from gal_exec.scaleout.outbox import Outbox

__all__ = ["EXIT_FENCED", "AccountNode", "epoch_journals"]

log = logging.getLogger("gal_exec.scaleout.node")

EXIT_FENCED = 3
"""The exit status of a node that lost its lease."""

_JOURNAL_NAME = re.compile(r"epoch-(\d{6,})\.sqlite")
_POLL_S = 0.05


def epoch_journals(folder: Path) -> dict[int, Path]:
    """The account's journals by epoch."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        match = _JOURNAL_NAME.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return found


class AccountNode:
    """Standby, then owner, of one account; see the module docstring."""

    def __init__(
        self,
        config: Config,
        *,
        url: str,
        account: str,
        reports_path: str | Path | None = None,
        callbacks: list[Callable[[ExecutionReport], None]] | None = None,
        stop: threading.Event | None = None,
        on_leader: Callable[[AccountNode], None] | None = None,
    ) -> None:
        settings = config.redis
        self.on_leader = on_leader
        self.config = config
        self.settings = settings
        self.url = url
        self.keys = AccountKeys(prefix=settings.key_prefix, account=account)
        self.owner = new_owner_name()
        self.reports_path = reports_path
        self.callbacks = list(callbacks or ())
        self.stop_event = stop or threading.Event()
        self.lost = threading.Event()
        self.folder = Path(settings.journal_dir) / account
        self.broker = Broker(connect(url, socket_timeout=settings.socket_timeout_s))
        self.lease = Lease(
            self.broker,
            self.keys,
            owner=self.owner,
            ttl_s=settings.lease_ttl_s,
            renew_s=settings.lease_renew_s,
            margin_s=settings.lease_margin_s,
            on_lost=self._on_lost,
        )
        self.state = "standby"
        self.journal_path: Path | None = None
        self.engine: Engine | None = None
        self.intake: Intake | None = None
        self.outbox: Outbox | None = None
        self.engine_started_at: float | None = None
        self.leader_at: float | None = None
        """Wall-clock time at which this node started taking signals."""

    # ---- the whole life ----------------------------------------------------------------------

    def run(self) -> int:
        """Wait for the lease, run the account, return the exit status (0 stopped, 3 fenced)."""
        try:
            if not self.acquire():
                return 0
            self.take_over()
            self.serve()
            return self.shutdown()
        finally:
            self.close()

    def acquire(self) -> bool:
        """Wait as a standby until the lease is ours (False if stopped first)."""
        journals = epoch_journals(self.folder)
        floor = max(journals, default=0) + 1 if journals else 0
        holder = self.broker.holder(self.keys.lease)
        if holder is not None:
            log.info("standby for account %s (held by %s)", self.keys.account, holder)
        if not self.lease.acquire(self.stop_event, floor):
            return False
        self.lease.start()
        if journals and not self.lease.broker_remembered:
            # A new or wiped broker: an owner of an older epoch may have renewed just before and
            # still trust its lease for up to one TTL. Let that run out before acting.
            log.warning(
                "the broker had no epoch for account %s: waiting %.1f s (one lease TTL) before "
                "taking over",
                self.keys.account,
                self.settings.lease_ttl_s,
            )
            deadline = time.monotonic() + self.settings.lease_ttl_s
            while time.monotonic() < deadline:
                if self.stop_event.wait(_POLL_S) or self.lost.is_set():
                    return False
        return True

    def take_over(self) -> None:
        """Copy the previous journal, start the engine, reconcile, then publish and read."""
        self.state = "starting"
        epoch = self.lease.epoch
        path = self.folder / f"epoch-{epoch:06d}.sqlite"
        earlier = {e: p for e, p in epoch_journals(self.folder).items() if e < epoch}
        if earlier and not path.exists():
            previous = earlier[max(earlier)]
            log.info("taking over from %s", previous.name)
            copy_journal(previous, path)
        self.journal_path = path
        self.engine_started_at = time.time()
        engine = Engine.start(
            self.config,
            journal_path=path,
            reports_path=self.reports_path,
            callbacks=self.callbacks,
            cl_ord_id_prefix=epoch_prefix(epoch),
            place_guard=self.lease.refusal,
        )
        self.engine = engine
        assert engine.writer is not None
        engine.writer.call(lambda journal: set_journal_epoch(journal, epoch))
        self._wait_until_reconciled(engine)
        settings = self.settings
        self.outbox = Outbox(
            broker=self.broker,
            keys=self.keys,
            lease=self.lease,
            writer=engine.writer,
            journal_path=path,
            batch=settings.publish_batch,
            maxlen=settings.reports_maxlen,
            max_age_s=settings.reports_max_age_s,
        )
        engine.subscribe(self.outbox.wake)
        self.outbox.start()
        self.outbox.wake()
        self._start_intake(engine)
        self.state = "leader"
        self.leader_at = time.time()
        log.warning(
            "leader of account %s: epoch %d, cl_ord_id prefix %s, journal %s",
            self.keys.account,
            epoch,
            epoch_prefix(epoch),
            path,
        )
        if self.on_leader is not None:
            self.on_leader(self)

    def _start_intake(self, engine: Engine, *, replay: bool = True) -> None:
        settings = self.settings
        assert engine.writer is not None and engine.sink is not None  # started with a journal
        reading = connect(
            self.url, socket_timeout=settings.socket_timeout_s + settings.block_ms / 1000
        )
        self.intake = Intake(
            broker=Broker(reading),
            keys=self.keys,
            group=settings.group,
            consumer=f"{self.owner}:e{self.lease.epoch}",
            lease=self.lease,
            writer=engine.writer,
            submit=engine.submit,
            report=engine.sink.tell,
            read_count=settings.read_count,
            block_ms=settings.block_ms,
            claim_idle_s=settings.claim_idle_s,
            dead_letter_maxlen=settings.dead_letter_maxlen,
            engine_started_at=self.engine_started_at,
        )
        self.intake.start(replay=replay)

    def _wait_until_reconciled(self, engine: Engine) -> None:
        """The exchange stream is up (its snapshot reconciled the open orders), or the wait ends."""
        deadline = time.monotonic() + self.settings.ready_timeout_s
        while time.monotonic() < deadline and not self.lost.is_set():
            if engine.health()["supervisor"].get("stream_up"):
                return
            if self.stop_event.wait(_POLL_S):
                return
        if not self.lost.is_set():
            log.warning(
                "exchange stream not up after %.0f s: taking signals anyway (orders are followed "
                "by REST polling meanwhile)",
                self.settings.ready_timeout_s,
            )

    def serve(self) -> None:
        """Run until stopped or fenced; restart the intake if its thread died."""
        while not self.stop_event.is_set() and not self.lost.is_set():
            self.stop_event.wait(0.2)
            self.lease.check()
            intake = self.intake
            if (
                intake is not None
                and not intake.running
                and self.lease.valid()
                and not self.stop_event.is_set()
            ):
                log.error("intake stopped (%s): starting it again", intake.error)
                assert self.engine is not None
                self._start_intake(self.engine, replay=False)

    def shutdown(self) -> int:
        """Stop: cleanly (status 0) or, fenced, without touching the orders (status 3)."""
        if self.intake is not None:
            self.intake.stop()
        engine = self.engine
        if self.lost.is_set():
            self.state = "fenced"
            if self.outbox is not None:
                self.outbox.stop()
            if self.settings.on_fence == "wait":
                log.warning("fenced: halted, following orders (cancels only) until stopped")
                self.stop_event.wait()
            if engine is not None:
                engine.stop(cancel_open=False)
            self.lease.stop(release=True)
            self.state = "stopped"
            return EXIT_FENCED
        if engine is not None:
            engine.stop()
        if self.outbox is not None:
            self.outbox.stop()  # publishes what the stop journaled, while the lease holds
        self.lease.stop(release=True)
        self.state = "stopped"
        return 0

    def close(self) -> None:
        self.lease.stop(release=True)
        if self.intake is not None:
            self.intake.stop()
        if self.engine is not None:
            self.engine.stop(cancel_open=False)
        if self.outbox is not None:
            self.outbox.stop()
        self.broker.client.close()

    def _on_lost(self, reason: str) -> None:
        self.lost.set()
        engine = self.engine
        if engine is not None:
            # Stop placing at once; cancels keep working. Placements already queued are held
            # back by the place guard.
            engine.submit(Halt(reason=f"lease lost: {reason}", cancel_open=False))

    def status(self) -> dict[str, Any]:
        """What this node is doing (for logs and tests)."""
        return {
            "state": self.state,
            "account": self.keys.account,
            "owner": self.owner,
            "epoch": self.lease.epoch,
            "lease_remaining_s": round(self.lease.remaining(), 3),
            "journal": str(self.journal_path) if self.journal_path else None,
            "intake": self.intake.health() if self.intake is not None else None,
            "outbox": None if self.outbox is None else self.outbox.stats,
        }
