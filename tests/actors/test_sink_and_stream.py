"""ReportSink (journal first, then file and callbacks, in order) and UserStream (stream to messages)."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

from gal_exec.actors import protocol as p
from gal_exec.actors.report_sink import GetStats, ReportSink, SubscribeReports
from gal_exec.actors.user_stream import UserStream
from gal_exec.core.updates import ExchangeStatus, UpdateSource
from gal_exec.journal import Journal, JournalWriter, OrderRecord
from gal_exec.kraken.ws import WsEvent
from gal_exec.kraken.ws_codec import decode_message
from gal_exec.messages import ExecutionReport

D = Decimal


def report(sequence: int, status: str = "open", **fields) -> ExecutionReport:
    return ExecutionReport(
        signal_id="s1",
        client_order_id="g-1",
        pair="XBT/USD",
        side="buy",
        order_type="limit",
        status=status,
        quantity=D("1"),
        sequence=sequence,
        **fields,
    )


def test_reports_are_journaled_before_they_are_delivered(tmp_path):
    journal = Journal.open(tmp_path / "j.sqlite")
    writer = JournalWriter(journal)
    writer.start()
    writer.call(
        lambda j: j.record_intent(
            OrderRecord(
                cl_ord_id="g-1",
                signal_id="s1",
                pair="XBT/USD",
                side="buy",
                order_type="limit",
                quantity=D("1"),
            )
        )
    )
    delivered: list[tuple[int, str | None]] = []
    done = threading.Event()

    def callback(item: ExecutionReport) -> None:
        # At delivery time the journal already holds this report.
        reader = Journal.open(tmp_path / "j.sqlite", read_only=True)
        try:
            stored = [r.sequence for r in reader.reports("g-1")]
        finally:
            reader.close()
        delivered.append((item.sequence, "journaled" if item.sequence in stored else None))
        if item.sequence == 5:
            done.set()

    sink = ReportSink.start(writer=writer, path=tmp_path / "reports.jsonl")
    sink.tell(SubscribeReports(callback=callback))
    for sequence in range(1, 6):
        status = "filled" if sequence == 5 else "partially_filled"
        sink.tell(report(sequence, status, fee=D("0.1") * sequence, fee_asset="USD"))
    assert done.wait(10)
    assert delivered == [(n, "journaled") for n in range(1, 6)]
    stats = sink.ask(GetStats(), timeout=5)
    assert stats.reports == 5
    assert stats.final_by_status_role == {"filled/entry": 1}
    assert stats.fees == {"USD": "0.5"}
    sink.stop()
    lines = (tmp_path / "reports.jsonl").read_text().splitlines()
    assert [json.loads(line)["sequence"] for line in lines] == [1, 2, 3, 4, 5]
    writer.stop()
    journal.close()


def test_an_idle_sink_commits_a_report_itself_and_a_busy_one_keeps_the_order(tmp_path):
    journal = Journal.open(tmp_path / "j.sqlite")
    writer = JournalWriter(journal)
    writer.start()
    delivered: list[int] = []
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def callback(item: ExecutionReport) -> None:
        delivered.append(item.sequence)
        if item.sequence == 1:
            held.set()
            assert release.wait(10)  # the sink is busy while reports 2..40 queue up
        if item.sequence == 40:
            done.set()

    sink = ReportSink.start(writer=writer)
    sink.tell(SubscribeReports(callback=callback))
    sink.tell(report(1))
    try:
        assert held.wait(10)
        # Report 1 reached an idle sink and an idle writer: committed on the sink's own thread.
        assert writer.eager == 1
        for sequence in range(2, 41):
            sink.tell(report(sequence, "partially_filled"))
    finally:
        release.set()
    assert done.wait(10)
    assert delivered == list(range(1, 41))
    # The rest came while others waited: through the writer's thread, in order.
    assert writer.eager == 1
    sink.stop()
    writer.stop()
    journal.close()


class FakeClient:
    """Stands in for KrakenWsClient: the test calls the callbacks the reader thread would."""

    instances: list[FakeClient] = []

    def __init__(self, url, *, on_message, on_event, on_idle, **_options):
        self.url = url
        self.on_message = on_message
        self.on_event = on_event
        self.on_idle = on_idle
        self.started = False
        FakeClient.instances.append(self)

    def start(self):
        self.started = True

    def stop(self):
        self.started = False


def event(kind: str, session: int, reason: str = "") -> WsEvent:
    return WsEvent(kind=kind, url="ws://x", attempt=1, session=session, reason=reason, time=0.0)


def start_stream(make_recorder, clock):
    """A UserStream on a FakeClient, telling recording supervisor and gateway."""
    supervisor, gateway = make_recorder(), make_recorder()
    FakeClient.instances.clear()
    stream = UserStream.start(
        url="ws://x",
        token_provider=lambda: "t",
        supervisor=supervisor.ref,
        gateway=gateway.ref,
        clock=clock,
        symbol_to_pair={"BTC/USD": "XBTUSD"},
        client_factory=FakeClient,
    )
    client = FakeClient.instances[-1]
    return stream, client, supervisor, gateway


def _execution(sequence: int, cl_ord_id: str, status: str, ratecount: float) -> bytes:
    return (
        f'{{"channel":"executions","type":"update","sequence":{sequence},"data":[{{'
        f'"order_id":"O-{cl_ord_id}","cl_ord_id":"{cl_ord_id}","exec_id":"E{sequence}",'
        f'"exec_type":"{status}","symbol":"BTC/USD","side":"buy","order_status":"{status}",'
        f'"ratecount":{ratecount},"timestamp":"2026-01-22T06:06:27.552281Z"}}]}}'
    ).encode()


def test_a_burst_of_frames_is_told_once_and_before_a_connection_event(make_recorder, clock):
    """Frames read in one go become one ExchangeUpdates (in order) and one rate counter reading
    per pair (the latest); what was read before a drop is told before the drop."""
    stream, client, supervisor, gateway = start_stream(make_recorder, clock)
    client.on_event(event("connected", 1))
    client.on_event(event("subscribed", 1, "executions"))
    assert supervisor.next(p.StreamStatus).up
    gateway.next(p.TradingChannelUp)
    for sequence, (cl_ord_id, status) in enumerate(
        [("g-1", "new"), ("g-2", "new"), ("g-1", "canceled")], start=1
    ):
        client.on_message(decode_message(_execution(sequence, cl_ord_id, status, sequence)))
    assert supervisor.pending() == [] and gateway.pending() == []  # nothing told mid-burst
    client.on_idle()
    updates = supervisor.next(p.ExchangeUpdates).updates
    assert [(u.cl_ord_id, u.status) for u in updates] == [
        ("g-1", ExchangeStatus.OPEN),
        ("g-2", ExchangeStatus.OPEN),
        ("g-1", ExchangeStatus.CANCELED),
    ]
    assert gateway.pending() == [p.RateCounterReading(pair="XBTUSD", level=3.0)]
    client.on_idle()  # nothing new: nothing told
    client.on_message(decode_message(_execution(4, "g-3", "new", 4)))
    client.on_event(event("disconnected", 1, "connection lost"))
    assert [type(m) for m in supervisor.take(2)] == [p.ExchangeUpdates, p.StreamStatus]
    assert supervisor.pending() == []
    stream.stop()


def test_user_stream_turns_executions_into_updates_and_gaps(make_recorder, clock):
    stream, client, supervisor, gateway = start_stream(make_recorder, clock)
    assert client.started
    client.on_event(event("connected", 1))
    # up only once the executions subscription is acknowledged
    client.on_event(event("subscribed", 1, "executions"))
    assert supervisor.next(p.StreamStatus) == p.StreamStatus(up=True, gap=False)
    assert supervisor.pending() == []
    trade = (
        b'{"channel":"executions","type":"update","sequence":3,"data":[{"order_id":"OTX-1",'
        b'"cl_ord_id":"g-1","exec_id":"E1","exec_type":"trade","trade_id":77,"symbol":"BTC/USD",'
        b'"side":"buy","last_qty":0.25,"last_price":65000.5,"cost":16250.125,"order_status":'
        b'"partially_filled","cum_qty":0.25,"cum_cost":16250.125,"avg_price":65000.5,'
        b'"fees":[{"asset":"USD","qty":0.65}],"ratecount":3.5,'
        b'"timestamp":"2026-01-22T06:06:27.552281Z"}]}'
    )
    client.on_message(decode_message(trade))
    client.on_idle()  # the reader has nothing more at hand
    (update,) = supervisor.next(p.ExchangeUpdates).updates
    assert (update.source, update.txid, update.cl_ord_id) == (UpdateSource.STREAM, "OTX-1", "g-1")
    assert update.status is ExchangeStatus.OPEN
    assert (update.fill.trade_id, update.fill.quantity, update.fill.price) == (
        "77",
        D("0.25"),
        D("65000.5"),
    )
    assert (update.fill.fee, update.fill.fee_asset) == (D("0.65"), "USD")
    assert gateway.next(p.RateCounterReading) == p.RateCounterReading(pair="XBTUSD", level=3.5)
    client.on_event(event("disconnected", 1))
    assert supervisor.next(p.StreamStatus).up is False
    client.on_event(event("connected", 2))
    client.on_event(event("subscribed", 2, "executions"))
    assert supervisor.next(p.StreamStatus) == p.StreamStatus(up=True, gap=True)
    health = stream.ask(p.GetHealth(), timeout=5)
    assert health.connected and health.sessions == 2 and health.messages == 1
    stream.stop()
    assert not client.started


def test_the_delivery_watermark_write_may_run_again_after_a_rollback() -> None:
    """JournalWriter may run an operation twice (the first run rolled back with its batch):
    the watermark's write then writes what it took again, or a later delivery, never less."""
    from gal_exec.actors.report_sink import _DeliveredMark

    class Marks:
        def __init__(self) -> None:
            self.written: list[tuple[str, int]] = []

        def mark_delivered(self, cl_ord_id: str, sequence: int) -> None:
            self.written.append((cl_ord_id, sequence))

    mark, journal = _DeliveredMark(), Marks()
    assert mark.note("a", 1)
    mark.write(journal)  # type: ignore[arg-type]
    mark.write(journal)  # type: ignore[arg-type]  # the redo
    assert journal.written == [("a", 1), ("a", 1)]
    assert mark.note("a", 2)  # the write ran: the next delivery queues a new one
    assert not mark.note("b", 1)  # one is queued already
    mark.write(journal)  # type: ignore[arg-type]
    assert journal.written[-1] == ("b", 1)
