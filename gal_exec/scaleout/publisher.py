"""The producer's and the consumer's side: publish signals to an account, read its reports.

    publisher = SignalPublisher("redis://127.0.0.1:6379/0", account="main")
    publisher.publish(TradeSignalApproved(...))      # or a JSON line (str or bytes)
    reader = ReportReader("redis://127.0.0.1:6379/0", account="main")
    for report in reader.follow():                   # de-duplicated on (cl_ord_id, sequence)
        ...

A publisher that cannot tell whether its XADD reached Redis (a reset, a timeout) publishes again:
the engine keeps the first message of a signal_id and ignores the rest, so retrying is safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
import redis

from gal_exec.messages import ExecutionReport, InboundMessage, decode_inbound, encode
from gal_exec.scaleout.broker import connect
from gal_exec.scaleout.keys import MESSAGE_FIELD, AccountKeys, parse_address

__all__ = ["ReportReader", "SignalPublisher"]

log = logging.getLogger("gal_exec.scaleout.publisher")

_FIELD = MESSAGE_FIELD.encode()
_report_decoder = msgspec.json.Decoder(ExecutionReport)


def _address(url: str, account: str | None) -> tuple[str, str]:
    address = parse_address(url)
    chosen = account or address.account
    if chosen is None:
        raise ValueError(f"{url}: no account (add ?account=NAME or pass account=)")
    return address.url, chosen


class SignalPublisher:
    """Publishes inbound messages to an account's signal stream, one per entry (field ``msg``)."""

    def __init__(
        self,
        url: str,
        *,
        account: str | None = None,
        key_prefix: str = "galexec",
        attempts: int = 3,
        retry_delay_s: float = 0.2,
        client: redis.Redis | None = None,
    ) -> None:
        redis_url, name = _address(url, account)
        self.keys = AccountKeys(prefix=key_prefix, account=name)
        self.client = client or connect(redis_url)
        self.attempts = attempts
        self.retry_delay_s = retry_delay_s

    def publish(self, message: InboundMessage | bytes | str, *, check: bool = True) -> str:
        """Add one message; its stream entry id. A JSON line is checked first unless ``check`` is
        False (MessageDecodeError names the problem). Retried on a connection failure."""
        if isinstance(message, str | bytes):
            body = message.encode() if isinstance(message, str) else message
            body = body.strip()
            if check:
                decode_inbound(body)
        else:
            body = encode(message)
        return self._add({_FIELD: body})

    def publish_many(self, messages: Iterable[InboundMessage | bytes | str]) -> list[str]:
        """Add several messages in one round trip (a pipeline); their entry ids."""
        bodies = [encode(m) if not isinstance(m, str | bytes) else _checked(m) for m in messages]
        for attempt in range(1, self.attempts + 1):
            try:
                pipe = self.client.pipeline(transaction=False)
                for body in bodies:
                    pipe.xadd(self.keys.signals, {_FIELD: body})
                return [_text(entry_id) for entry_id in pipe.execute()]
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if attempt == self.attempts:
                    raise
                log.warning("publish failed (%s): publishing again", exc)
                time.sleep(self.retry_delay_s)
        raise AssertionError("unreachable")

    def _add(self, fields: dict[bytes, bytes]) -> str:
        for attempt in range(1, self.attempts + 1):
            try:
                return _text(self.client.xadd(self.keys.signals, fields))  # type: ignore[arg-type]
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                # Maybe added, maybe not: adding again is safe (the engine de-duplicates).
                if attempt == self.attempts:
                    raise
                log.warning("publish failed (%s): publishing again", exc)
                time.sleep(self.retry_delay_s)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.client.close()


class ReportReader:
    """Reads an account's report stream in order, de-duplicated on (client_order_id, sequence)."""

    def __init__(
        self,
        url: str,
        *,
        account: str | None = None,
        key_prefix: str = "galexec",
        start: str = "0-0",
        client: redis.Redis | None = None,
    ) -> None:
        redis_url, name = _address(url, account)
        self.keys = AccountKeys(prefix=key_prefix, account=name)
        self.client = client or connect(redis_url, socket_timeout=None)
        if start == "$":  # from now on: the id of the newest entry, kept between reads
            newest = self.client.xrevrange(self.keys.reports, count=1)
            start = _text(newest[0][0]) if newest else "0-0"
        self.last_id = start
        self.duplicates = 0
        self._seen: set[tuple[str, int]] = set()

    def read(self, *, block_ms: int | None = None, count: int = 1000) -> list[ExecutionReport]:
        """The next reports after the last one read (waiting up to ``block_ms`` for one)."""
        response: Any = self.client.xread(
            {self.keys.reports: self.last_id}, count=count, block=block_ms
        )
        reports = []
        for _stream, entries in response or []:
            for entry_id, fields in entries:
                self.last_id = _text(entry_id)
                report = _report_decoder.decode(fields[_FIELD])
                key = (report.client_order_id, report.sequence)
                if key in self._seen:
                    self.duplicates += 1
                    continue
                self._seen.add(key)
                reports.append(report)
        return reports

    def follow(
        self, *, block_ms: int = 1000, stop: threading.Event | None = None
    ) -> Iterator[ExecutionReport]:
        """Every report, as it comes, until `stop` is set."""
        while stop is None or not stop.is_set():
            yield from self.read(block_ms=block_ms)

    def close(self) -> None:
        self.client.close()


def _checked(line: str | bytes) -> bytes:
    body = (line.encode() if isinstance(line, str) else line).strip()
    decode_inbound(body)
    return body


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
