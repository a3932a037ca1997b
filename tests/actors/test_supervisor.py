"""ExecutionSupervisor in isolation: real Pykka actors, a recording gateway and sink."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gal_exec.actors import protocol as p
from gal_exec.actors.report_sink import ReportSink
from gal_exec.actors.supervisor import ExecutionSupervisor, Restore
from gal_exec.core.desk import Desk, DeskSettings
from gal_exec.core.ids import child_client_order_id
from gal_exec.core.updates import ExchangeStatus, OrderUpdate, UpdateSource
from gal_exec.kraken.pairs import PairRegistry, PairRules
from gal_exec.messages import CancelSignal, ExecutionReport, Halt, Resume, TradeSignalApproved

D = Decimal

XBT = PairRules(
    pair_id="XXBTZUSD",
    altname="XBTUSD",
    wsname="XBT/USD",
    symbol="BTC/USD",
    base="XXBT",
    quote="ZUSD",
    pair_decimals=1,
    lot_decimals=8,
    cost_decimals=5,
    ordermin=D("0.0001"),
    costmin=D("0.5"),
    tick_size=D("0.1"),
)


def signal(signal_id: str = "s1", **overrides) -> TradeSignalApproved:
    fields = dict(
        signal_id=signal_id,
        pair="XBT/USD",
        side="buy",
        order_type="limit",
        quantity=D("0.01"),
        limit_price=D("60000.0"),
    )
    fields.update(overrides)
    return TradeSignalApproved(**fields)


def start_supervisor(gateway, sink, clock, timers, writer=None, **settings):
    desk = Desk(DeskSettings(**settings), pairs=PairRegistry([XBT]).limits, clock=clock)
    supervisor = ExecutionSupervisor.start(
        desk=desk, gateway=gateway, sink=sink, timers=timers, clock=clock, writer=writer
    )
    supervisor.tell(Restore(models={}))
    return supervisor


@pytest.fixture
def rig(make_recorder, clock, timers):
    gateway, sink = make_recorder(), make_recorder()

    def start(**settings):
        return start_supervisor(gateway.ref, sink.ref, clock, timers, **settings)

    return start, gateway, sink


def rejected(sink) -> ExecutionReport:
    while True:
        report = sink.next(ExecutionReport)
        if report.status == "rejected":
            return report


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"pair": "DOGE/XYZ"}, "unknown pair 'DOGE/XYZ'"),
        ({"quantity": D("0.00001")}, "quantity 0.00001 below ordermin 0.0001 for XBT/USD"),
        ({"limit_price": D("60000.05")}, "is not a multiple of the tick size 0.1"),
        ({"sl_price": D("61000.0")}, "sl_price 61000.0 must be below the entry price"),
        ({"tp_price": D("61000.05")}, "tp_price 61000.05 is not a multiple of the tick size 0.1"),
        ({"quantity": D("-1")}, "quantity must be positive"),
        ({"quantity": 0.01}, "quantity must be a Decimal (or a decimal string in JSON); got float"),
        ({"quantity": "0.01"}, "quantity must be a Decimal (or a decimal string in JSON); got str"),
        ({"limit_price": 60000}, "limit_price must be a Decimal"),
        ({"pair": None}, "expected `str`, got `null` - at `pair`"),
        ({"side": "up"}, "invalid enum value 'up' - at `side`"),
    ],
)
def test_bad_signals_become_rejected_reports(rig, overrides, reason):
    start, gateway, sink = rig
    supervisor = start()
    supervisor.tell(signal(**overrides))
    report = rejected(sink)
    assert reason in report.reason
    assert report.signal_id == "s1"
    # the engine goes on: a good signal is placed
    supervisor.tell(signal("s2"))
    assert gateway.next(p.PlaceOrder).order.pair == "XBTUSD"


def test_duplicate_signal_is_not_placed_twice(rig):
    start, gateway, sink = rig
    supervisor = start()
    supervisor.tell(signal("dup"))
    gateway.next(p.PlaceOrder)
    supervisor.tell(signal("dup"))
    assert "duplicate signal_id 'dup'" in rejected(sink).reason
    assert [m for m in gateway.pending() if isinstance(m, p.PlaceOrder)] == []


def test_halt_rejects_and_resume_lifts(rig):
    start, gateway, sink = rig
    supervisor = start()
    supervisor.tell(Halt(reason="risk"))
    supervisor.tell(signal("h1"))
    assert rejected(sink).reason == "halted: risk"
    supervisor.tell(Resume())
    supervisor.tell(signal("h2"))
    assert gateway.next(p.PlaceOrder).cl_ord_id


def test_cap_queues_beyond_the_limit_and_drains_on_finish(rig):
    start, gateway, _sink = rig
    supervisor = start(max_live_orders=1)
    supervisor.tell(signal("a"))
    first = gateway.next(p.PlaceOrder)
    supervisor.tell(signal("b"))
    health = supervisor.ask(p.GetHealth(), timeout=5)
    assert (health.live_orders, health.queued_orders) == (1, 1)
    # the first order is rejected by the exchange: the queued one starts
    from gal_exec.kraken.errors import classify

    first.reply_to.tell(
        p.PlaceResult(
            request_id=first.request_id,
            cl_ord_id=first.cl_ord_id,
            error=classify("EOrder:Insufficient funds", placing=True),
        )
    )
    second = gateway.next(p.PlaceOrder)
    assert second.cl_ord_id != first.cl_ord_id


def test_cancel_signal_of_a_queued_order_never_sends_it(rig):
    start, gateway, sink = rig
    supervisor = start(max_live_orders=1)
    supervisor.tell(signal("a"))
    gateway.next(p.PlaceOrder)
    supervisor.tell(signal("b"))
    supervisor.tell(CancelSignal(signal_id="b"))
    reports = []
    while not reports or reports[-1].status != "canceled":
        report = sink.next(ExecutionReport)
        if report.signal_id == "b":
            reports.append(report)
    # accepted (journaled, queued behind the cap), then cancelled: one order, never sent
    assert [(r.status, r.sequence) for r in reports] == [("pending_submit", 1), ("canceled", 2)]
    assert reports[-1].reason == "canceled by CancelSignal"
    assert [m for m in gateway.pending() if isinstance(m, p.PlaceOrder)] == []


def test_updates_before_the_ack_are_held_and_routed_by_txid(rig):
    start, gateway, sink = rig
    supervisor = start()
    supervisor.tell(signal("r1"))
    place = gateway.next(p.PlaceOrder)
    # a sparse stream update carrying only the txid arrives before the REST answer
    supervisor.tell(
        p.ExchangeUpdates(
            updates=[
                OrderUpdate(
                    source=UpdateSource.STREAM, txid="OTX-9", status=ExchangeStatus.CANCELED
                )
            ]
        )
    )
    place.reply_to.tell(
        p.PlaceResult(request_id=place.request_id, cl_ord_id=place.cl_ord_id, txid="OTX-9")
    )
    statuses = []
    while not statuses or statuses[-1] != "canceled":
        statuses.append(sink.next(ExecutionReport).status)
    assert statuses[-2:] == ["open", "canceled"]


def test_entry_fill_spawns_linked_protection(rig):
    start, gateway, _sink = rig
    supervisor = start()
    supervisor.tell(signal("b1", sl_price=D("59000.0"), tp_price=D("61000.0")))
    place = gateway.next(p.PlaceOrder)
    supervisor.tell(
        p.EntryFilled(
            cl_ord_id=place.cl_ord_id, filled_quantity=D("0.004"), average_price=D("60000.0")
        )
    )
    children = sorted(
        (gateway.next(p.PlaceOrder) for _ in range(2)), key=lambda m: m.order.ordertype
    )
    assert [c.order.ordertype for c in children] == ["stop-loss", "take-profit"]
    assert all(c.order.type == "sell" and c.order.volume == D("0.004") for c in children)
    assert [c.order.price for c in children] == [D("59000.0"), D("61000.0")]
    assert {c.cl_ord_id for c in children} == {
        child_client_order_id(place.cl_ord_id, "sl"),
        child_client_order_id(place.cl_ord_id, "tp"),
    }


def test_a_crashed_order_restarts_from_the_journal_without_resending(
    make_recorder, clock, timers, tmp_path
):
    import queue

    from gal_exec.journal import Journal, JournalWriter

    gateway = make_recorder()
    journal = Journal.open(tmp_path / "j.sqlite")
    writer = JournalWriter(journal)
    writer.start()
    delivered: queue.Queue[ExecutionReport] = queue.Queue()
    sink = ReportSink.start(writer=writer, callbacks=[delivered.put], clock=clock)
    supervisor = start_supervisor(gateway.ref, sink, clock, timers, writer=writer)
    try:
        supervisor.tell(signal("crash-1"))
        place = gateway.next(p.PlaceOrder)
        place.reply_to.tell(
            p.PlaceResult(request_id=place.request_id, cl_ord_id=place.cl_ord_id, txid="OTX-7")
        )
        while delivered.get(timeout=5).status != "open":
            pass
        broken = OrderUpdate(source=UpdateSource.STREAM, cl_ord_id="x", cum_quantity="boom")
        place.reply_to.tell(broken)  # the actor's handler fails
        query = gateway.next(p.QueryOrderStatus)  # restarted: it asks, it does not re-send
        assert (query.cl_ord_id, query.txid) == (place.cl_ord_id, "OTX-7")
        assert [m for m in gateway.pending() if isinstance(m, p.PlaceOrder)] == []
        # the restarted order continues its sequence: the next report is #4, after open (#3)
        supervisor.tell(
            p.ExchangeUpdates(
                updates=[
                    OrderUpdate(
                        source=UpdateSource.STREAM,
                        cl_ord_id=place.cl_ord_id,
                        txid="OTX-7",
                        status=ExchangeStatus.CANCELED,
                    )
                ]
            )
        )
        report = delivered.get(timeout=5)
        assert (report.status, report.sequence) == ("canceled", 4)
    finally:
        supervisor.stop()
        sink.stop()
        writer.stop()
        journal.close()
