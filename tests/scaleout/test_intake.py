"""The intake and the outbox of one engine on a real Redis, against the in-process simulator:
producer retries, poison messages, control messages, the halt that outlives the engine, and the
report stream's trimming. (A kill between the journal and the acknowledgement: test_failover.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gal_exec.journal import InboxEntry, Journal, inbox_mark_handed, record_inbox
from gal_exec.scaleout import ReportReader, SignalPublisher
from gal_exec.scaleout.keys import AccountKeys
from gal_exec.sim.server import Simulator
from tests.e2e.support import sim_config
from tests.scaleout.support import (
    ACCOUNT,
    WAIT_S,
    config_of,
    exchange_orders,
    market,
    node_in_thread,
    settings,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sim() -> Iterator[dict[str, Any]]:
    simulator = Simulator(sim_config(step_interval_s=0.05, volatility_bps=1.0))
    simulator.start()
    try:
        yield dict(simulator.endpoints())
    finally:
        simulator.stop()


def line(message: dict[str, Any]) -> str:
    return json.dumps(message)


def test_retried_and_poison_messages_and_control_messages(
    sim: dict[str, Any], redis_url: str, redis_prefix: str, tmp_path: Path, redis_client: Any
) -> None:
    keys = AccountKeys(prefix=redis_prefix, account=ACCOUNT)
    publisher = SignalPublisher(f"{redis_url}?account={ACCOUNT}", key_prefix=redis_prefix)
    reader = ReportReader(f"{redis_url}?account={ACCOUNT}", key_prefix=redis_prefix)
    # Published before any engine ran: read all the same (the group starts at the beginning).
    publisher.publish(line(market("early")))
    config = config_of(settings(sim, redis_prefix, tmp_path / "journals"))
    with node_in_thread(config, redis_url, sim) as node:
        publisher.publish(line(market("s-1")))
        publisher.publish(line(market("s-1")))  # a producer's retry after a lost reply
        poison = publisher.publish(
            b'{"type":"TradeSignalApproved","signal_id":"bad","pair":"XBTUSD"}', check=False
        )
        publisher.publish(line({"type": "Halt", "reason": "desk says stop"}))
        publisher.publish(line(market("while-halted")))
        publisher.publish(line({"type": "Resume"}))
        publisher.publish(line(market("s-2")))
        seen: list[Any] = []

        def done() -> bool:
            seen.extend(reader.read(block_ms=100))
            final = {(r.signal_id, r.status) for r in seen}
            return {("early", "filled"), ("s-1", "filled"), ("s-2", "filled")} <= final and {
                ("while-halted", "rejected"),
                ("bad", "rejected"),
            } <= final

        assert wait_until(done, WAIT_S, poll_s=0.0), [
            (r.signal_id, r.status, r.reason) for r in seen
        ]
        stats = node.intake.stats if node.intake else None
        assert stats is not None and stats.duplicates == 1 and stats.dead_lettered == 1
    orders = exchange_orders(sim)
    assert len(orders) == 3  # early, s-1 once, s-2
    halted = next(r for r in seen if r.signal_id == "while-halted")
    assert halted.reason == "halted: desk says stop"
    rejected = next(r for r in seen if r.signal_id == "bad")
    assert rejected.reason is not None and rejected.reason.startswith(f"stream entry {poison}:")
    dead = redis_client.xrange(keys.dead_letters)
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"entry_id"].decode() == poison
    assert fields[b"reason"] == b"missing required field `side`"
    assert redis_client.xpending(keys.signals, "engines")["pending"] == 0


def test_a_halt_outlives_its_engine(
    sim: dict[str, Any], redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """A Halt handed to the previous owner (no Resume after it) holds for the next one."""
    keys = AccountKeys(prefix=redis_prefix, account=ACCOUNT)
    journals = tmp_path / "journals"
    with Journal.open(journals / ACCOUNT / "epoch-000001.sqlite") as journal:
        halt = line({"type": "Halt", "reason": "risk off"}).encode()
        record_inbox(
            journal, keys.signals, [InboxEntry(entry_id="1-0", kind="Halt", raw=halt)], 1.0
        )
        inbox_mark_handed(journal, ["1-0"])
    publisher = SignalPublisher(f"{redis_url}?account={ACCOUNT}", key_prefix=redis_prefix)
    reader = ReportReader(f"{redis_url}?account={ACCOUNT}", key_prefix=redis_prefix)
    config = config_of(settings(sim, redis_prefix, journals))
    with node_in_thread(config, redis_url, sim):
        publisher.publish(line(market("after-takeover")))
        seen: list[Any] = []
        assert wait_until(lambda: bool(seen.extend(reader.read(block_ms=100)) or seen), WAIT_S)
    assert [(r.signal_id, r.status, r.reason) for r in seen] == [
        ("after-takeover", "rejected", "halted: risk off")
    ]
    assert exchange_orders(sim) == []


def test_report_stream_is_trimmed_approximately(
    sim: dict[str, Any], redis_url: str, redis_prefix: str, tmp_path: Path, redis_client: Any
) -> None:
    keys = AccountKeys(prefix=redis_prefix, account=ACCOUNT)
    config = config_of(
        settings(sim, redis_prefix, tmp_path / "journals", reports_maxlen=10, publish_batch=5)
    )
    publisher = SignalPublisher(f"{redis_url}?account={ACCOUNT}", key_prefix=redis_prefix)
    with node_in_thread(config, redis_url, sim) as node:
        publisher.publish_many([line(market(f"m-{n}", post_only=False)) for n in range(30)])
        assert wait_until(
            lambda: node.outbox is not None and node.outbox.stats.published >= 30 * 4, WAIT_S
        )
    length = redis_client.xlen(keys.reports)
    assert length < 30 * 4  # trimmed by whole stream nodes: approximately, never below 10
    assert length >= 10
