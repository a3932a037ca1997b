"""Cases 1 and 2 of scripts/bench.py: signal-to-wire latency beside other Kraken clients, and
fill-to-report latency.

Wire time is the simulator's own ``opentm`` of the order (``time.time()`` in the simulator's
process when its exchange core takes the AddOrder, after HTTP parsing and signature checks), read
from GET /sim/orders; start time is ``time.time()`` in this process just before the client is
called. Both read the same machine clock.
"""

from __future__ import annotations

import http.client
import itertools
import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import websocket
from bench_engine import EngineRun, signal
from bench_support import PairInfo, SimProcess, log, pairs_of, summary

from gal_exec.kraken import ws_codec
from gal_exec.kraken.auth import Credentials, sign_with_key, validate_secret
from gal_exec.kraken.rest import KrakenRestClient
from gal_exec.timers import SystemClock

_ADD_ORDER = "/0/private/AddOrder"
_FORM = "application/x-www-form-urlencoded"


class _SignedForm:
    """Body and headers of a signed AddOrder, built the way a careful hand-written client would."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self.secret = validate_secret(api_secret)
        self.nonce = time.time_ns() // 1000

    def build(self, fields: str) -> tuple[bytes, dict[str, str]]:
        self.nonce = max(self.nonce + 1, time.time_ns() // 1000)
        body = f"nonce={self.nonce}&{fields}".encode()
        headers = {
            "API-Key": self.api_key,
            "API-Sign": sign_with_key(self.secret, _ADD_ORDER, self.nonce, body),
            "Content-Type": _FORM,
        }
        return body, headers


def _fields(pair: PairInfo) -> str:
    price, volume = pair.far_buy()
    return f"ordertype=limit&type=buy&pair={pair.altname}&price={price}&volume={volume}&timeinforce=IOC"


def _txid(reply: dict[str, Any]) -> str:
    if reply.get("error"):
        raise RuntimeError(f"AddOrder failed: {reply['error']}")
    return reply["result"]["txid"][0]


class RawHttpClient:
    """The floor: stdlib http.client on one keep-alive connection, signed by hand."""

    name = "http.client keep-alive (floor)"
    key_field = "txid"

    def __init__(self, sim: SimProcess) -> None:
        self.form = _SignedForm(*sim.new_account())
        url = urlsplit(sim.rest_url)
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)

    def prepare(self, pair: PairInfo, index: int) -> str:
        return _fields(pair)

    def send(self, fields: str) -> str:
        body, headers = self.form.build(fields)
        self.connection.request("POST", _ADD_ORDER, body, headers)
        return _txid(json.loads(self.connection.getresponse().read()))

    def close(self) -> None:
        self.connection.close()


class RequestsClient:
    """requests.Session keep-alive, signed by hand (trust_env off, as the engine's own session)."""

    name = "requests.Session + signing"
    key_field = "txid"

    def __init__(self, sim: SimProcess) -> None:
        import requests

        self.form = _SignedForm(*sim.new_account())
        self.session = requests.Session()
        self.session.trust_env = False
        self.url = sim.rest_url + _ADD_ORDER

    def prepare(self, pair: PairInfo, index: int) -> str:
        return _fields(pair)

    def send(self, fields: str) -> str:
        body, headers = self.form.build(fields)
        return _txid(self.session.post(self.url, data=body, headers=headers, timeout=10).json())

    def close(self) -> None:
        self.session.close()


class KrakenSdkClient:
    """python-kraken-sdk's Trade.create_order, pointed at the simulator by its ``url``."""

    name = "python-kraken-sdk create_order"
    key_field = "txid"

    def __init__(self, sim: SimProcess) -> None:
        from kraken.spot import Trade

        key, secret = sim.new_account()
        self.trade = Trade(key=key, secret=secret, url=sim.rest_url)

    def prepare(self, pair: PairInfo, index: int) -> dict[str, Any]:
        price, volume = pair.far_buy()
        return {
            "ordertype": "limit",
            "side": "buy",
            "pair": pair.altname,
            "volume": str(volume),
            "price": str(price),
            "timeinforce": "IOC",
        }

    def send(self, arguments: dict[str, Any]) -> str:
        return self.trade.create_order(**arguments)["txid"][0]

    def close(self) -> None:
        pass


class CcxtClient:
    """ccxt's kraken.create_order, pointed at the simulator through ``urls['api']``."""

    name = "ccxt create_order"
    key_field = "txid"

    def __init__(self, sim: SimProcess) -> None:
        import ccxt

        key, secret = sim.new_account()
        self.exchange = ccxt.kraken({"apiKey": key, "secret": secret, "enableRateLimit": False})
        self.exchange.urls["api"] = {"public": sim.rest_url, "private": sim.rest_url}
        self.exchange.load_markets()
        self.symbols = {m["info"]["altname"]: m["symbol"] for m in self.exchange.markets.values()}

    def prepare(self, pair: PairInfo, index: int) -> tuple[str, float, float]:
        price, volume = pair.far_buy()
        return self.symbols[pair.altname], float(volume), float(price)

    def send(self, arguments: tuple[str, float, float]) -> str:
        symbol, volume, price = arguments
        order = self.exchange.create_order(
            symbol, "limit", "buy", volume, price, {"timeInForce": "IOC"}
        )
        return order["id"]

    def close(self) -> None:
        pass


class RawWebSocketClient:
    """The WebSocket floor: websocket-client on one authenticated connection sending the same
    add_order frame the engine sends (encoded before the clock starts), then reading its answer."""

    name = "websocket-client add_order (WS floor)"
    key_field = "txid"

    def __init__(self, sim: SimProcess) -> None:
        key, secret = sim.new_account()
        rest = KrakenRestClient(sim.rest_url, Credentials(key, secret), clock=SystemClock())
        self.token = rest.get_websockets_token().token
        rest.close()
        self.ws = websocket.create_connection(
            sim.endpoints["ws_auth_url"], timeout=10, skip_utf8_validation=True
        )
        self.ws.sock.setsockopt(6, 1, 1)  # TCP_NODELAY, as the engine's client has it
        self.req_ids = itertools.count(1)

    def prepare(self, pair: PairInfo, index: int) -> tuple[int, bytes]:
        price, volume = pair.far_buy()
        spec = ws_codec.OrderSpec(
            order_type="limit",
            side="buy",
            order_qty=volume,
            limit_price=price,
            time_in_force="ioc",
        )
        req_id = next(self.req_ids)
        request = ws_codec.add_order(self.token, spec, symbol=pair.symbol, req_id=req_id)
        return req_id, ws_codec.encode(request)

    def send(self, prepared: tuple[int, bytes]) -> str:
        req_id, frame = prepared
        self.ws.send(frame, opcode=websocket.ABNF.OPCODE_TEXT)
        while True:
            message = ws_codec.decode_message(self.ws.recv())
            if getattr(message, "method", None) == "add_order" and message.req_id == req_id:
                if not message.success:
                    raise RuntimeError(f"add_order failed: {message.error}")
                return message.result.order_id

    def close(self) -> None:
        self.ws.close()


class EngineClient:
    """gal_exec: a TradeSignalApproved told to the supervisor; a fresh Engine (and simulator
    account) each round, so every round starts with empty rate counters. Orders go over the
    authenticated WebSocket (the default) or, for the REST row, by REST."""

    name = "gal_exec engine, WebSocket order entry"
    key_field = "cl_ord_id"
    order_entry = "ws"

    def __init__(self, sim: SimProcess) -> None:
        self.sim = sim
        self.run: EngineRun | None = None
        self.round = 0

    def start_round(self) -> None:
        self.round += 1
        self.run = EngineRun(self.sim, tier="pro", order_entry=self.order_entry)

    def end_round(self) -> None:
        if self.run is not None:
            self.run.stop()
            self.run = None

    def prepare(self, pair: PairInfo, index: int) -> Any:
        price, volume = pair.far_buy()
        return signal(f"s2w-{self.round}-{index}", pair, price, volume)

    def send(self, message: Any) -> str:
        run = self.run
        assert run is not None
        run.engine.submit(message)
        signal_id = message.signal_id
        if not run.wait(lambda: signal_id in run.acks, timeout=30):
            raise RuntimeError(f"no acknowledgement for {signal_id} within 30 s")
        report = run.acks[signal_id][1]
        if report.status == "rejected":
            raise RuntimeError(f"order {signal_id} rejected: {report.reason}")
        return report.client_order_id

    def close(self) -> None:
        self.end_round()


class EngineRestClient(EngineClient):
    name = "gal_exec engine, REST order entry"
    order_entry = "rest"

    def prepare(self, pair: PairInfo, index: int) -> Any:
        price, volume = pair.far_buy()
        return signal(f"s2w-rest-{self.round}-{index}", pair, price, volume)


_OPTIONAL = {KrakenSdkClient: "python-kraken-sdk", CcxtClient: "ccxt"}
CLIENTS = (
    RawHttpClient,
    RequestsClient,
    KrakenSdkClient,
    CcxtClient,
    RawWebSocketClient,
    EngineClient,
    EngineRestClient,
)


def _clients(sim: SimProcess, notes: list[str]) -> list[Any]:
    clients: list[Any] = []
    for kind in CLIENTS:
        try:
            clients.append(kind(sim))
        except ImportError:
            line = f"skipped {kind.name}: the {_OPTIONAL.get(kind, '?')} package is not installed"
            notes.append(line)
            log(line)
    return clients


class GatewayProbe:
    """Bench-only timestamps inside the engine's gateway, per cl_ord_id: when the gateway took the
    PlaceOrder from its mailbox, and when the frame went out (WS) or the call was handed to a
    worker (REST). Installed by wrapping two methods of the class; nothing in the engine knows."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.sent: dict[str, tuple[float, float]] = {}
        self.received: dict[str, float] = {}

    def install(self) -> None:
        from gal_exec.actors.gateway import KrakenGateway
        from gal_exec.actors.protocol import PlaceOrder

        handle, send_ws, send_rest = (
            KrakenGateway._handle,
            KrakenGateway._send_ws,
            KrakenGateway._send,
        )
        probe = self

        def _handle(gateway: Any, message: Any) -> None:
            if isinstance(message, PlaceOrder):
                probe.arrived[message.cl_ord_id] = time.time()
                # received_at is the supervisor's monotonic clock when the signal arrived.
                probe.received[message.cl_ord_id] = time.time() - (
                    time.monotonic() - message.enqueued_at
                )
            handle(gateway, message)

        def _timed(original: Any) -> Any:
            def wrapper(gateway: Any, dispatch: Any) -> None:
                begin = time.time()
                original(gateway, dispatch)
                end = time.time()
                for job in dispatch.jobs:
                    probe.sent[job.cl_ord_id] = (begin, end)

            return wrapper

        KrakenGateway._handle = _handle  # type: ignore[method-assign]
        KrakenGateway._send_ws = _timed(send_ws)  # type: ignore[method-assign]
        KrakenGateway._send = _timed(send_rest)  # type: ignore[method-assign]

    def breakdown(
        self, name: str, records: list[tuple[str, float, float]], opened: dict[str, float]
    ) -> str:
        """One line: where the median order's time went, from submit to the simulator."""
        parts: dict[str, list[float]] = {
            "submit -> supervisor": [],
            "supervisor -> gateway (intake, birth commit, hand-over)": [],
            "gateway: mailbox -> dispatch": [],
            "gateway: frame built and sent / call handed to a worker": [],
            "sent -> simulator takes it": [],
        }
        for key, begin, _ in records:
            if key not in self.arrived or key not in self.sent or key not in opened:
                continue
            sent_begin, sent_end = self.sent[key]
            received = self.received[key]
            parts["submit -> supervisor"].append(received - begin)
            parts["supervisor -> gateway (intake, birth commit, hand-over)"].append(
                self.arrived[key] - received
            )
            parts["gateway: mailbox -> dispatch"].append(sent_begin - self.arrived[key])
            parts["gateway: frame built and sent / call handed to a worker"].append(
                sent_end - sent_begin
            )
            parts["sent -> simulator takes it"].append(opened[key] - sent_end)
        text = ", ".join(
            f"{label} p50 {summary(values)['p50'] * 1e3:.2f} ms / p99 "
            f"{summary(values)['p99'] * 1e3:.2f} ms"
            for label, values in parts.items()
            if values
        )
        return f"{name}, where the time goes: {text}"


def case_signal_to_wire(quick: bool) -> dict[str, Any]:
    """Case 1: start-to-opentm per client, closed loop (one order at a time), IOC orders far
    from the market spread over every pair; rounds interleave the clients."""
    rounds, per_round, warmup = (2, 500, 20) if quick else (4, 2000, 50)
    notes: list[str] = []
    started: dict[str, list[tuple[str, float, float]]] = {}
    probe = GatewayProbe()
    probe.install()
    with SimProcess(tier="pro", rate_limits=False) as sim:
        pairs = pairs_of(sim)
        clients = _clients(sim, notes)
        try:
            for round_index in range(rounds):
                shift = round_index % len(clients)
                for client in clients[shift:] + clients[:shift]:
                    if hasattr(client, "start_round"):
                        client.start_round()
                    for index in range(warmup):
                        client.send(client.prepare(pairs[index % len(pairs)], -1 - index))
                    records = started.setdefault(client.name, [])
                    for index in range(per_round):
                        prepared = client.prepare(pairs[index % len(pairs)], index)
                        begin = time.time()
                        key = client.send(prepared)
                        records.append((key, begin, time.time()))
                    if hasattr(client, "end_round"):
                        client.end_round()
                    log(f"  round {round_index + 1}/{rounds}: {client.name} done")
        finally:
            for client in clients:
                client.close()
        orders = sim.orders()
    opened = {}
    for order in orders:
        opened[order["txid"]] = order["opentm"]
        if order.get("cl_ord_id"):
            opened[order["cl_ord_id"]] = order["opentm"]
    rows = []
    for client in clients:
        records = started.get(client.name, [])
        wire = [opened[key] - begin for key, begin, _ in records if key in opened]
        answered = [done - begin for _, begin, done in records]
        missing = len(records) - len(wire)
        if missing:
            notes.append(f"{client.name}: {missing} orders not found in /sim/orders")
        rows.append({"client": client.name, "wire": summary(wire), "answer": summary(answered)})
    breakdown = [
        probe.breakdown(client.name, started.get(client.name, []), opened)
        for client in clients
        if isinstance(client, EngineClient)
    ]
    return {
        "rows": rows,
        "notes": notes,
        "breakdown": breakdown,
        "settings": {"rounds": rounds, "orders_per_round": per_round, "warmup_per_round": warmup},
    }


def _split(label: str, samples: list[float]) -> str:
    figures = summary(samples)
    return f"{label}: p50 {figures['p50'] * 1e3:.2f} ms, p99 {figures['p99'] * 1e3:.2f} ms"


def _fill_levels(pairs: list[PairInfo], count: int) -> list[tuple[PairInfo, int]]:
    """(pair, level) for ``count`` resting buys: levels 0, 1, ... on each pair in turn."""
    return [(pairs[index % len(pairs)], index // len(pairs)) for index in range(count)]


_TOP = Decimal("0.9")
_GAP = Decimal("0.002")  # between resting levels, as a fraction of the starting mid


class StreamProbe:
    """Bench-only: when the WS reader thread handed on each trade, by exchange order id."""

    def __init__(self) -> None:
        self.read: dict[str, float] = {}

    def install(self) -> None:
        from gal_exec.actors.user_stream import StreamRouter
        from gal_exec.kraken.ws_codec import ExecutionsMessage

        original = StreamRouter.message
        probe = self

        def message(router: Any, decoded: Any) -> None:
            now = time.time()
            if isinstance(decoded, ExecutionsMessage):
                for execution in decoded.data:
                    if execution.exec_type == "trade" and execution.order_id:
                        probe.read.setdefault(execution.order_id, now)
            original(router, decoded)

        StreamRouter.message = message  # type: ignore[method-assign]


def case_fill_to_report(quick: bool) -> dict[str, Any]:
    """Case 2: resting buys at descending levels; POST /sim/price moves one pair to cross exactly
    one order; the fill's execution timestamp (the simulator's clock when it matched) to the
    moment the ExecutionReport reaches a callback. One fill at a time."""
    rounds, fills = (2, 150) if quick else (5, 400)
    latencies: list[float] = []
    control_to_report: list[float] = []
    to_reader: list[float] = []
    to_callback: list[float] = []
    probe = StreamProbe()
    probe.install()
    with SimProcess(tier="pro", rate_limits=False) as sim:
        pairs = pairs_of(sim)
        for round_index in range(rounds):
            filled: dict[str, tuple[float, Any]] = {}

            def on_report(report: Any, filled: dict = filled) -> None:
                if report.last_fill_quantity is not None:
                    filled.setdefault(report.signal_id, (time.time(), report))

            run = EngineRun(sim, tier="pro", on_report=on_report)
            try:
                levels = _fill_levels(pairs, fills)
                signals = []
                for index, (pair, level) in enumerate(levels):
                    price = pair.price_at(_TOP - _GAP * level)
                    signals.append(
                        signal(
                            f"f2r-{round_index}-{index}",
                            pair,
                            price,
                            pair.volume_for(price),
                            time_in_force="GTC",
                        )
                    )
                for message in signals:
                    run.engine.submit(message)
                if not run.wait_acks(len(signals), timeout=60):
                    raise RuntimeError("resting orders were not all acknowledged within 60 s")
                for message, (pair, level) in zip(signals, levels, strict=True):
                    target = pair.price_at(_TOP - _GAP * level - _GAP / 2)
                    begin = time.time()
                    sim.set_price(pair.altname, target)
                    signal_id = message.signal_id
                    if not run.wait(lambda: signal_id in filled, timeout=10):  # noqa: B023
                        raise RuntimeError(f"no fill report for {signal_id} within 10 s")
                    reported, report = filled[signal_id]
                    latencies.append(reported - report.exchange_time)
                    read_at = probe.read.get(report.exchange_order_id or "")
                    if read_at is not None:
                        to_reader.append(read_at - report.exchange_time)
                        to_callback.append(reported - read_at)
                    control_to_report.append(reported - begin)
            finally:
                run.stop()
                # Put the markets back where the next round's levels expect them.
                for pair in pairs:
                    sim.set_price(pair.altname, pair.mid)
            log(f"  round {round_index + 1}/{rounds}: {fills} fills")
    return {
        "rows": [
            {"path": "fill matched in simulator -> ReportSink callback", **summary(latencies)},
            {"path": "POST /sim/price sent -> ReportSink callback", **summary(control_to_report)},
        ],
        "notes": [],
        "breakdown": [_split("fill matched -> WS reader thread hands it on", to_reader)]
        + [
            _split(
                "reader thread -> ReportSink callback (supervisor, order actor, journal)",
                to_callback,
            )
        ],
        "settings": {"rounds": rounds, "fills_per_round": fills},
    }
