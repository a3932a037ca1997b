"""Intake: the account's signal stream read through a consumer group, into the journal, then the engine.

For each batch of entries read with XREADGROUP (or claimed with XAUTOCLAIM):

1. decode each entry's ``msg`` field with gal_exec.messages.decode_inbound (the JSON-lines format
   of ``gal-exec run --signals``); one that fails is *poison*: it goes to the dead-letter stream
   with the reason (and is acknowledged there, in one script) and becomes a rejected report;
2. journal the raw messages in the inbox, in one commit; a second message with a signal_id (or
   batch_id) already journaled is a duplicate and is never handed on;
3. XACK them (through a script that checks the lease: XACK means *journaled*, not *filled*);
4. hand the new ones to the engine (``Engine.submit``).

At start, before reading anything, the inbox is replayed: entries journaled but never handed, and
signals handed whose order never reached the journal (the engine refuses a signal_id it has
placed, so a second hand-off cannot double an order); the last Halt, if no Resume followed it, is
applied again; then every entry still pending in the group (read but never acknowledged, by this
engine's previous life or by the previous owner) is claimed and processed. Every read and every
hand-off first checks the lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import redis

from gal_exec.core.ids import new_client_order_id
from gal_exec.journal import (
    InboxEntry,
    JournalWriter,
    inbox_mark_handed,
    inbox_unsettled,
    latest_control,
    record_inbox,
    signals_settled,
    unsent_entry_reports,
)
from gal_exec.messages import (
    BatchSubmit,
    ExecutionReport,
    Halt,
    InboundMessage,
    MessageDecodeError,
    OrderStatus,
    TradeSignalApproved,
    decode_inbound,
)
from gal_exec.scaleout.broker import FENCED, Broker
from gal_exec.scaleout.keys import MESSAGE_FIELD, AccountKeys
from gal_exec.scaleout.lease import Lease

__all__ = ["Intake", "IntakeStats", "dedupe_key"]

log = logging.getLogger("gal_exec.scaleout.intake")

_FIELD = MESSAGE_FIELD.encode()
_JOURNAL_TIMEOUT_S = 30.0


class IntakeStats(msgspec.Struct, kw_only=True):
    read: int = 0
    journaled: int = 0
    duplicates: int = 0
    redelivered: int = 0
    dead_lettered: int = 0
    handed: int = 0
    replayed: int = 0
    claimed: int = 0


def dedupe_key(message: InboundMessage) -> str | None:
    """What makes a message a duplicate of an earlier one: its signal_id, or its batch_id."""
    if isinstance(message, TradeSignalApproved):
        return message.signal_id
    if isinstance(message, BatchSubmit):
        return f"batch:{message.batch_id}"
    return None


class _Decoded(msgspec.Struct, kw_only=True):
    entry_id: str
    raw: bytes
    message: InboundMessage


class Intake:
    """The reading thread of one account's signal stream."""

    def __init__(
        self,
        *,
        broker: Broker,
        keys: AccountKeys,
        group: str,
        consumer: str,
        lease: Lease,
        writer: JournalWriter,
        submit: Callable[[InboundMessage], None],
        report: Callable[[ExecutionReport], None],
        read_count: int = 100,
        block_ms: int = 500,
        claim_idle_s: float = 30.0,
        dead_letter_maxlen: int = 100_000,
        engine_started_at: float | None = None,
        clock: Any = time,
    ) -> None:
        self.engine_started_at = engine_started_at
        self.broker = broker
        self.keys = keys
        self.group = group
        self.consumer = consumer
        self.lease = lease
        self.writer = writer
        self.submit = submit
        self.report = report
        self.read_count = read_count
        self.block_ms = block_ms
        self.claim_idle_ms = max(1, round(claim_idle_s * 1000))
        self.dead_letter_maxlen = dead_letter_maxlen
        self.clock = clock
        self.stats = IntakeStats()
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_claim = 0.0

    # ---- life ------------------------------------------------------------------------------

    def start(self, *, replay: bool = True) -> None:
        """Create the group if needed, replay the inbox (once per engine), claim what is
        pending, then read."""
        self.ensure_group()
        if replay:
            self.replay(self.engine_started_at)
        self.claim(min_idle_ms=0)
        self._next_claim = time.monotonic() + self.claim_idle_ms / 2000
        self._thread = threading.Thread(
            target=self._run, name=f"intake-{self.keys.account}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ensure_group(self) -> None:
        """The consumer group, created at the stream's beginning (entries published before any
        engine ran are read too)."""
        try:
            self.broker.client.xgroup_create(self.keys.signals, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self.lease.valid():
                    self.lease.check()
                    return
                if time.monotonic() >= self._next_claim:
                    self._next_claim = time.monotonic() + self.claim_idle_ms / 2000
                    self.claim(min_idle_ms=self.claim_idle_ms)
                self.poll_once()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("intake of account %s stopped", self.keys.account)

    # ---- reading ---------------------------------------------------------------------------

    def poll_once(self) -> int:
        """One XREADGROUP (blocking at most until the lease needs renewing); entries processed."""
        block = min(self.block_ms, int(self.lease.remaining() * 1000) - 50)
        if block <= 0:
            self.lease.check()
            return 0
        try:
            response: Any = self.broker.client.xreadgroup(
                self.group,
                self.consumer,
                {self.keys.signals: ">"},
                count=self.read_count,
                block=block,
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("consumer group %s is gone (broker restarted?): creating it", self.group)
            self.ensure_group()
            return 0
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("intake: broker unreachable (%s)", exc)
            self._stop.wait(min(1.0, self.lease.remaining()))
            return 0
        entries = [entry for _stream, items in response or [] for entry in items]
        return self.process(entries)

    def claim(self, *, min_idle_ms: int) -> int:
        """Claim and process entries read but never acknowledged for `min_idle_ms` (XAUTOCLAIM)."""
        processed = 0
        start: Any = "0-0"
        while not self._stop.is_set() and self.lease.valid():
            try:
                reply = self.broker.client.xautoclaim(
                    self.keys.signals,
                    self.group,
                    self.consumer,
                    min_idle_time=min_idle_ms,
                    start_id=start,
                    count=self.read_count,
                )
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self.ensure_group()
                return processed
            start, entries = reply[0], [e for e in reply[1] if e[0] is not None]
            self.stats.claimed += len(entries)
            processed += self.process(entries)
            if start in (b"0-0", "0-0"):
                break
        return processed

    def process(self, entries: Sequence[tuple[Any, Any]]) -> int:
        """Journal, acknowledge and hand on a batch of (entry id, fields) read from the stream."""
        if not entries or not self.lease.valid():
            return 0
        decoded: list[_Decoded] = []
        poison: list[tuple[str, bytes, str]] = []
        for raw_id, fields in entries:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            raw = (fields or {}).get(_FIELD)
            if raw is None:
                poison.append((entry_id, b"", f"no {MESSAGE_FIELD!r} field in the entry"))
                continue
            try:
                message = decode_inbound(raw)
            except MessageDecodeError as exc:
                poison.append((entry_id, raw, str(exc)))
                continue
            decoded.append(_Decoded(entry_id=entry_id, raw=raw, message=message))
        self.stats.read += len(entries)
        outcomes: list[str] = []
        if decoded:
            inbox = [
                InboxEntry(
                    entry_id=item.entry_id,
                    kind=type(item.message).__name__,
                    raw=item.raw,
                    dedupe_key=dedupe_key(item.message),
                )
                for item in decoded
            ]
            stream, now = self.keys.signals, self.clock.time()
            outcomes = self.writer.call(
                lambda journal: record_inbox(journal, stream, inbox, now),
                timeout=_JOURNAL_TIMEOUT_S,
            )
            acked = self.broker.ack(
                self.keys.lease,
                self.lease.token,
                self.keys.signals,
                self.group,
                [item.entry_id for item in decoded],
            )
            if acked == FENCED:
                # Journaled here but not acknowledged: the next owner claims and journals them.
                self.lease.check()
                log.error("intake: lease lost before acknowledging %d entries", len(decoded))
                return 0
        for entry_id, raw, reason in poison:
            self._dead_letter(entry_id, raw, reason)
        handed: list[str] = []
        for item, outcome in zip(decoded, outcomes, strict=True):
            if outcome == "duplicate":
                self.stats.duplicates += 1
                log.info("entry %s: duplicate of an earlier message, ignored", item.entry_id)
                continue
            if outcome == "known":
                self.stats.redelivered += 1  # journaled before a restart: the replay handed it
                continue
            self.stats.journaled += 1
            if not self.lease.valid():
                break  # journaled and acknowledged: the next owner replays it from the inbox
            self.submit(item.message)
            handed.append(item.entry_id)
        self._mark_handed(handed)
        return len(entries)

    def _dead_letter(self, entry_id: str, raw: bytes, reason: str) -> None:
        log.warning(
            "entry %s is poison (%s): moved to %s", entry_id, reason, self.keys.dead_letters
        )
        result = self.broker.dead_letter(
            self.keys.lease,
            self.lease.token,
            self.keys.signals,
            self.group,
            self.keys.dead_letters,
            maxlen=self.dead_letter_maxlen,
            entry_id=entry_id,
            reason=reason,
            raw=raw,
        )
        if result == FENCED:
            self.lease.check()
            return
        self.stats.dead_lettered += 1
        self.report(
            ExecutionReport(
                signal_id=_signal_id_of(raw),
                client_order_id=new_client_order_id(clock=self.clock),
                status=OrderStatus.REJECTED,
                reason=f"stream entry {entry_id}: {reason}",
                engine_time=self.clock.time(),
                sequence=1,
            )
        )

    def _mark_handed(self, entry_ids: list[str]) -> None:
        if not entry_ids:
            return
        self.stats.handed += len(entry_ids)
        self.writer.submit(lambda journal: inbox_mark_handed(journal, entry_ids))

    # ---- replay after a restart or a takeover ----------------------------------------------

    def replay(self, started: float | None = None) -> int:
        """Hand the engine what the inbox holds but the engine may never have acted on.

        ``started`` (default: now) is when this engine started: an entry order reported before
        it whose intent never reached the journal is closed with a rejected report first.
        """
        started = self.clock.time() if started is None else started
        rows = self.writer.call(inbox_unsettled, timeout=_JOURNAL_TIMEOUT_S)
        halt = self.writer.call(
            lambda journal: latest_control(journal, ("Halt", "Resume")),
            timeout=_JOURNAL_TIMEOUT_S,
        )
        if halt is not None and halt.kind == "Halt" and halt.status != "new":
            last = decode_inbound(halt.raw)
            assert isinstance(last, Halt)
            log.warning("account %s is halted (%s): halting again", self.keys.account, last.reason)
            self.submit(Halt(reason=last.reason or "halt requested", cancel_open=False))
        self._close_unsent(started)
        messages = [(row.entry_id, decode_inbound(row.raw)) for row in rows]
        wanted = [
            signal.signal_id for _entry_id, message in messages for signal in _signals_of(message)
        ]
        settled = self.writer.call(
            lambda journal: signals_settled(journal, wanted), timeout=_JOURNAL_TIMEOUT_S
        )
        handed = []
        for entry_id, message in messages:
            again = _unsettled_part(message, settled)
            if again is not None:
                log.info("replaying entry %s (%s) from the inbox", entry_id, type(again).__name__)
                self.submit(again)
                self.stats.replayed += 1
            handed.append(entry_id)
        self._mark_handed(handed)
        return self.stats.replayed

    def _close_unsent(self, started: float) -> None:
        """An entry order reported but never journaled (the engine stopped between its first
        report and its intent) was never sent: say so, so its report sequence ends."""
        unsent = self.writer.call(
            lambda journal: unsent_entry_reports(journal, started), timeout=_JOURNAL_TIMEOUT_S
        )
        for last in unsent:
            self.report(
                msgspec.structs.replace(
                    last,
                    status="rejected",
                    reason="never sent: the engine stopped before journaling its intent",
                    error_code=None,
                    engine_time=self.clock.time(),
                    sequence=last.sequence + 1,
                )
            )

    def health(self) -> dict[str, Any]:
        """Counters, and the group's pending entries and lag as the broker sees them."""
        health: dict[str, Any] = msgspec.to_builtins(self.stats)
        health["running"] = self.running
        health["error"] = self.error
        try:
            for group in self.broker.client.xinfo_groups(self.keys.signals):
                name = group.get("name")
                if name in (self.group, self.group.encode()):
                    health["pending"] = group.get("pending")
                    health["lag"] = group.get("lag")
        except redis.RedisError as exc:
            health["broker_error"] = str(exc)
        return health


def _signals_of(message: InboundMessage) -> list[TradeSignalApproved]:
    if isinstance(message, TradeSignalApproved):
        return [message]
    if isinstance(message, BatchSubmit):
        return list(message.signals)
    return []


def _unsettled_part(message: InboundMessage, settled: set[str]) -> InboundMessage | None:
    """What of `message` still needs the engine: all of it, the signals of a batch without an
    outcome, or nothing."""
    if isinstance(message, TradeSignalApproved):
        return None if message.signal_id in settled else message
    if isinstance(message, BatchSubmit):
        left = [signal for signal in message.signals if signal.signal_id not in settled]
        if not left:
            return None
        if len(left) == len(message.signals):
            return message
        return msgspec.structs.replace(message, signals=left)
    return message


def _signal_id_of(raw: bytes) -> str:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return ""
    if isinstance(value, dict) and isinstance(value.get("signal_id"), str):
        return value["signal_id"]
    return ""
