"""KrakenWsClient against a small Kraken-v2-speaking WebSocket server on loopback."""

from __future__ import annotations

import itertools
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from gal_exec.kraken import ws_codec as wc
from gal_exec.kraken.ws import (
    ExecutionsSubscription,
    KrakenWsClient,
    TickerSubscription,
    WsError,
    WsEvent,
    WsNotConnected,
    full_jitter_delay,
)

WAIT_S = 5.0


class Recorder:
    """Thread-safe list that tests wait on, instead of sleeping."""

    def __init__(self) -> None:
        self.items: list = []
        self._changed = threading.Condition()

    def __call__(self, item: object) -> None:
        with self._changed:
            self.items.append(item)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list], bool], timeout: float = WAIT_S) -> list:
        with self._changed:
            met = self._changed.wait_for(lambda: predicate(self.items), timeout)
            assert met, f"timed out waiting; recorded so far: {self.items}"
            return list(self.items)


class FakeKraken:
    """Speaks enough WS v2 for the client: status on connect, subscribe acks, an executions
    snapshot then updates, ticker snapshot, heartbeats and pong. ``scripts[n]`` changes the
    behaviour of the n-th connection (1-based)."""

    def __init__(self) -> None:
        self.received = Recorder()  # (connection number, request dict)
        self.scripts: dict[int, dict] = {}
        self.heartbeat_s = 0.05
        self._connections = itertools.count(1)

    def handler(self, conn: ServerConnection) -> None:
        try:
            self._serve(conn, next(self._connections))
        except ConnectionClosed:
            pass  # the client went away; that is what several tests make it do

    def _serve(self, conn: ServerConnection, number: int) -> None:
        script = self.scripts.get(number, {})
        self._send(conn, _status())
        quiet = False
        next_heartbeat = time.monotonic() + self.heartbeat_s
        while True:
            try:
                raw = conn.recv(timeout=0.02)
            except TimeoutError:
                raw = None
            if raw is not None:
                request = json.loads(raw)
                self.received((number, request))
                if not quiet and not self._answer(conn, number, request, script):
                    return
                quiet = quiet or script.get("silent_after_subscribe", False)
            if not quiet and time.monotonic() >= next_heartbeat:
                self._send(conn, {"channel": "heartbeat"})
                next_heartbeat = time.monotonic() + self.heartbeat_s

    def _answer(self, conn: ServerConnection, number: int, request: dict, script: dict) -> bool:
        """Reply to one request; False when the script drops the connection."""
        method, params = request.get("method"), request.get("params", {})
        if method == "ping":
            self._send(conn, {"method": "pong", "req_id": request.get("req_id")})
        elif method == "cancel_all":
            self._send(conn, _response("cancel_all", request, {"count": 0}))
        elif method == "subscribe" and params.get("channel") == "ticker":
            for symbol in params["symbol"]:
                result = {"channel": "ticker", "snapshot": True, "symbol": symbol}
                self._send(conn, _response("subscribe", request, result))
            self._send(conn, _ticker(params["symbol"][0]))
        elif method == "subscribe" and script.get("reject_subscribe"):
            rejection = {"method": "subscribe", "success": False, "error": "EAPI:Invalid token"}
            self._send(conn, rejection | {"req_id": request.get("req_id")})
        elif method == "subscribe" and params.get("channel") == "executions":
            result = {"channel": "executions", "maxratecount": 125, "snap_orders": True}
            self._send(conn, _response("subscribe", request, result))
            if script.get("garbage_after_ack"):
                self._send(conn, "this is not json")
            self._send(conn, _executions("snapshot", 1, f"snap-{number}"))
            for sequence in (2, 3):
                self._send(conn, _executions("update", sequence, f"upd-{number}-{sequence}"))
                if script.get("drop_after_sequence") == sequence:
                    conn.socket.shutdown(socket.SHUT_RDWR)
                    return False
                if script.get("close_after_sequence") == sequence:
                    conn.close(1001, "maintenance")
                    return False
        return True

    @staticmethod
    def _send(conn: ServerConnection, message: dict | str) -> None:
        conn.send(message if isinstance(message, str) else json.dumps(message))


def _status() -> dict:
    data = [{"api_version": "v2", "connection_id": 13834774380200032777, "system": "online"}]
    return {"channel": "status", "type": "update", "data": data}


def _response(method: str, request: dict, result: dict) -> dict:
    return {"method": method, "req_id": request.get("req_id"), "result": result, "success": True}


def _executions(kind: str, sequence: int, cl_ord_id: str) -> str:
    # Written by hand so the price travels as the JSON number 0.1.
    return (
        f'{{"channel":"executions","type":"{kind}","sequence":{sequence},"data":[{{'
        f'"order_id":"O-{cl_ord_id}","cl_ord_id":"{cl_ord_id}","exec_type":"new",'
        f'"order_status":"new","limit_price":0.1}}]}}'
    )


def _ticker(symbol: str) -> str:
    return f'{{"channel":"ticker","type":"snapshot","data":[{{"symbol":"{symbol}","bid":1.5}}]}}'


@pytest.fixture
def kraken() -> Iterator[tuple[FakeKraken, str]]:
    fake = FakeKraken()
    server = serve(fake.handler, "127.0.0.1", 0, ping_interval=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.shutdown()
        thread.join(WAIT_S)


class Tokens:
    def __init__(self, fail_first: bool = False) -> None:
        self.issued = 0
        self.fail_first = fail_first

    def __call__(self) -> str:
        self.issued += 1
        if self.fail_first and self.issued == 1:
            raise RuntimeError("REST unavailable")
        return f"tok-{self.issued}"


@pytest.fixture
def make_client(kraken) -> Iterator[Callable[..., tuple[KrakenWsClient, Recorder]]]:
    clients: list[KrakenWsClient] = []

    def make(**options) -> tuple[KrakenWsClient, Recorder]:
        log = Recorder()  # ("msg", message) and ("event", WsEvent) in the order delivered
        options.setdefault("url", kraken[1])
        options.setdefault("token_provider", Tokens())
        options.setdefault("subscriptions", [ExecutionsSubscription()])
        options.setdefault("backoff_base_s", 0.01)
        options.setdefault("backoff_cap_s", 0.05)
        options.setdefault("liveness_timeout_s", 2.0)
        options.setdefault("rng", random.Random(7))
        if options.pop("idle", False):
            options["on_idle"] = lambda: log(("idle", None))
        client = KrakenWsClient(
            on_message=lambda m: log(("msg", m)), on_event=lambda e: log(("event", e)), **options
        )
        clients.append(client)
        client.start()
        return client, log

    try:
        yield make
    finally:
        for client in clients:
            client.stop()


def _messages(items: list, kind: type) -> list:
    return [item for tag, item in items if tag == "msg" and isinstance(item, kind)]


def _events(items: list, *kinds: str) -> list[WsEvent]:
    return [item for tag, item in items if tag == "event" and item.kind in kinds]


def _snapshots_seen(count: int) -> Callable[[list], bool]:
    def seen(items: list) -> bool:
        executions = _messages(items, wc.ExecutionsMessage)
        return sum(m.type == "snapshot" for m in executions) >= count

    return seen


def _subscribes(received: list, channel: str) -> list[tuple[int, dict]]:
    return [
        (number, request)
        for number, request in received
        if request.get("method") == "subscribe" and request["params"]["channel"] == channel
    ]


def test_on_idle_follows_what_was_read_before_the_reader_waits(kraken, make_client) -> None:
    """The hook comes after the messages the reader had at hand, never between a message and
    the next one already buffered; every message is eventually followed by one."""
    _client, log = make_client(idle=True)
    items = log.wait_for(
        lambda items: (
            any(m.sequence == 3 for m in _messages(items, wc.ExecutionsMessage))
            and items[-1][0] == "idle"
        )
    )
    last_message = max(i for i, (tag, _) in enumerate(items) if tag == "msg")
    assert any(tag == "idle" for tag, _ in items[last_message + 1 :])


def test_subscribes_with_token_and_flags_and_hands_on_in_order(kraken, make_client) -> None:
    fake, _ = kraken
    client, log = make_client(
        subscriptions=[ExecutionsSubscription(), TickerSubscription(symbols=("BTC/USD",))]
    )
    items = log.wait_for(
        lambda items: (
            any(m.sequence == 3 for m in _messages(items, wc.ExecutionsMessage))
            and _messages(items, wc.TickerMessage)
        )
    )
    received = fake.received.wait_for(lambda r: len(_subscribes(r, "ticker")) == 1)
    ((_, executions),) = _subscribes(received, "executions")
    assert executions["params"] == {
        "channel": "executions",
        "token": "tok-1",
        "snap_orders": True,
        "snap_trades": True,
        "order_status": True,
        "ratecounter": True,
    }
    ((_, ticker),) = _subscribes(received, "ticker")
    assert ticker["params"]["symbol"] == ["BTC/USD"] and "token" not in ticker["params"]

    messages = [item for tag, item in items if tag == "msg"]
    assert isinstance(messages[0], wc.StatusMessage)
    executions_ack = next(
        i
        for i, m in enumerate(messages)
        if isinstance(m, wc.SubscriptionAck) and m.result.channel == "executions"
    )
    stream = [m for m in messages if isinstance(m, wc.ExecutionsMessage)]
    assert [m.sequence for m in stream] == [1, 2, 3]
    assert messages.index(stream[0]) > executions_ack
    assert stream[0].data[0].limit_price == Decimal("0.1")
    assert _messages(items, wc.TickerMessage)[0].data[0].bid == Decimal("1.5")
    subscribed = [e.reason for e in _events(items, "subscribed")]
    assert sorted(subscribed) == ["executions", "ticker BTC/USD"]
    assert client.connected and client.current_token == "tok-1"


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("drop_after_sequence", "connection lost"),
        ("close_after_sequence", "server closed the connection (code 1001: maintenance)"),
    ],
)
def test_drop_mid_stream_reconnects_resubscribes_and_replays_snapshot(
    kraken, make_client, script: str, reason: str
) -> None:
    fake, _ = kraken
    fake.scripts[1] = {script: 2}
    _, log = make_client()
    items = log.wait_for(_snapshots_seen(2))

    received = fake.received.wait_for(lambda r: len(_subscribes(r, "executions")) == 2)
    subscribes = _subscribes(received, "executions")
    assert [(n, r["params"]["token"]) for n, r in subscribes] == [(1, "tok-1"), (2, "tok-2")]
    assert all(r["params"]["snap_orders"] and r["params"]["snap_trades"] for _, r in subscribes)

    lifecycle = _events(items, "connected", "disconnected")
    assert [(e.kind, e.session) for e in lifecycle] == [
        ("connected", 1),
        ("disconnected", 1),
        ("connected", 2),
    ]
    assert lifecycle[1].reason.startswith(reason)
    assert lifecycle[1].url.startswith("ws://127.0.0.1:")

    # Nothing is delivered out of place: updates of connection 1, the gap, then the snapshot.
    order = [
        item.kind if tag == "event" else item.data[0].cl_ord_id
        for tag, item in items
        if (tag == "event" and item.kind in ("connected", "disconnected"))
        or isinstance(item, wc.ExecutionsMessage)
    ]
    expected = ["connected", "snap-1", "upd-1-2", "disconnected", "connected", "snap-2"]
    assert order[:6] == expected


def test_silent_server_trips_liveness_and_client_reconnects(kraken, make_client) -> None:
    fake, _ = kraken
    fake.scripts[1] = {"silent_after_subscribe": True}
    _, log = make_client(liveness_timeout_s=0.3)
    items = log.wait_for(_snapshots_seen(2))
    disconnected = _events(items, "disconnected")
    assert "liveness" in disconnected[0].reason
    assert [e.session for e in _events(items, "connected")][:2] == [1, 2]
    # The client probed the quiet link with an application ping before giving up on it.
    probes = [r for n, r in fake.received.items if n == 1 and r.get("method") == "ping"]
    assert probes and isinstance(probes[0]["req_id"], int)


def test_ping_on_interval_gets_pong(kraken, make_client) -> None:
    fake, _ = kraken
    _, log = make_client(ping_interval_s=0.1)
    log.wait_for(lambda items: _messages(items, wc.Pong))
    pings = [r for _, r in fake.received.items if r.get("method") == "ping"]
    assert pings and set(pings[0]) == {"method", "req_id"}


def test_send_goes_out_and_response_comes_back(kraken, make_client) -> None:
    fake, _ = kraken
    client, log = make_client()
    log.wait_for(_snapshots_seen(1))
    client.send(wc.cancel_all(client.current_token, req_id=client.next_req_id()))
    items = log.wait_for(lambda items: _messages(items, wc.CancelAllResponse))
    assert _messages(items, wc.CancelAllResponse)[0].result.count == 0
    cancel = [r for _, r in fake.received.items if r.get("method") == "cancel_all"]
    assert cancel[0]["params"] == {"token": "tok-1"}


def test_owner_can_force_a_reconnect_and_add_a_subscription(kraken, make_client) -> None:
    fake, _ = kraken
    client, log = make_client()
    log.wait_for(_snapshots_seen(1))
    client.subscribe(TickerSubscription(symbols=("ETH/USD",)))
    log.wait_for(lambda items: _messages(items, wc.TickerMessage))
    client.reconnect("token rejected")
    items = log.wait_for(lambda items: len(_messages(items, wc.TickerMessage)) >= 2)
    assert _events(items, "disconnected")[0].reason == "token rejected"
    # The added subscription is part of every later connection.
    received = fake.received.wait_for(lambda r: len(_subscribes(r, "ticker")) == 2)
    assert [n for n, _ in _subscribes(received, "ticker")] == [1, 2]


def test_private_subscription_added_later_reconnects_for_a_token(kraken, make_client) -> None:
    fake, _ = kraken
    client, log = make_client(subscriptions=[TickerSubscription(symbols=("BTC/USD",))])
    log.wait_for(lambda items: _messages(items, wc.TickerMessage))
    assert client.current_token is None
    client.subscribe(ExecutionsSubscription())
    items = log.wait_for(_snapshots_seen(1))
    assert _events(items, "disconnected")[0].reason == "a new private subscription needs a token"
    received = fake.received.wait_for(lambda r: len(_subscribes(r, "executions")) == 1)
    ((number, request),) = _subscribes(received, "executions")
    assert number == 2 and request["params"]["token"] == "tok-1"


def test_rejected_subscription_is_reported(kraken, make_client) -> None:
    fake, _ = kraken
    fake.scripts[1] = {"reject_subscribe": True}
    _, log = make_client()
    items = log.wait_for(lambda items: _events(items, "error"))
    assert _events(items, "error")[0].reason == "subscribe rejected: EAPI:Invalid token"
    assert not _events(items, "subscribed")
    rejection = _messages(items, wc.SubscriptionAck)[0]
    assert rejection.success is False and rejection.error == "EAPI:Invalid token"


def test_send_without_connection_raises() -> None:
    client = KrakenWsClient("ws://127.0.0.1:9", on_message=lambda m: None, on_event=lambda e: None)
    with pytest.raises(WsNotConnected):
        client.send(wc.ping(1))


def test_stop_is_prompt_idempotent_and_final(kraken, make_client) -> None:
    client, log = make_client(name="stoptest", liveness_timeout_s=30.0, ping_interval_s=30.0)
    log.wait_for(_snapshots_seen(1))
    started = time.monotonic()
    client.stop()
    assert time.monotonic() - started < 1.0
    assert "stoptest-reader" not in {t.name for t in threading.enumerate()}
    assert not client.connected
    last = _events(log.items, "connected", "disconnected")[-1]
    assert (last.kind, last.reason) == ("disconnected", "stopped")
    client.stop()
    with pytest.raises(WsError):
        client.start()


def test_token_never_logged(kraken, make_client, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="gal_exec.kraken.ws")
    client, log = make_client()
    log.wait_for(_snapshots_seen(1))
    client.send(wc.cancel_all(client.current_token))
    fake, _ = kraken
    fake.received.wait_for(lambda r: any(q.get("method") == "cancel_all" for _, q in r))
    assert '"token":"***"' in caplog.text
    assert "tok-1" not in caplog.text


def test_malformed_frame_is_reported_and_stream_continues(kraken, make_client) -> None:
    fake, _ = kraken
    fake.scripts[1] = {"garbage_after_ack": True}
    _, log = make_client()
    items = log.wait_for(
        lambda items: any(m.sequence == 3 for m in _messages(items, wc.ExecutionsMessage))
    )
    errors = _events(items, "error")
    assert errors and "not a JSON object" in errors[0].reason
    assert len(_events(items, "connected")) == 1


def test_token_provider_failure_disconnects_then_recovers(kraken, make_client) -> None:
    _, log = make_client(token_provider=Tokens(fail_first=True))
    items = log.wait_for(_snapshots_seen(1))
    first_drop = _events(items, "disconnected")[0]
    assert "token provider failed" in first_drop.reason and "REST unavailable" in first_drop.reason
    snapshot = _messages(items, wc.ExecutionsMessage)[0]
    assert snapshot.data[0].cl_ord_id == "snap-2"


def test_connect_failures_back_off_with_growing_attempts(make_client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    _, log = make_client(url=f"ws://127.0.0.1:{closed_port}")
    items = log.wait_for(lambda items: len(_events(items, "error")) >= 3)
    errors = _events(items, "error")
    assert [e.attempt for e in errors[:3]] == [1, 2, 3]
    assert all(e.reason.startswith("connect failed") for e in errors)
    assert not _events(items, "connected")


def test_full_jitter_delay_is_bounded_and_capped() -> None:
    rng = random.Random(1)
    for failures in range(1, 80):
        ceiling = min(4.0, 0.25 * 2 ** (failures - 1))
        delays = [full_jitter_delay(failures, 0.25, 4.0, rng) for _ in range(20)]
        assert all(0.0 <= d <= ceiling for d in delays)
    late = [full_jitter_delay(10, 0.25, 4.0, rng) for _ in range(200)]
    assert max(late) > 2.0  # the cap, not the first step, bounds later delays
