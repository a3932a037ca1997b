"""The simulator's REST server: Kraken's ``/0/public/*`` and ``/0/private/*`` endpoints, and the
``/sim/`` control API, on a stdlib ThreadingHTTPServer (HTTP/1.1 keep-alive, TCP_NODELAY).

Private calls go through Kraken's checks in order: fault "before" rules, API-Key, nonce,
API-Sign over the raw body, nonce order, the key's permissions, the REST rate counter, then the
method. Bodies may be
form-encoded or JSON. Every Kraken answer is HTTP 200 ``{"error": [...], "result": ...}`` (only
``error`` on failure) unless a fault rule says otherwise.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from gal_exec.sim import control, errors
from gal_exec.sim.errors import SimError
from gal_exec.sim.exchange import Exchange
from gal_exec.sim.faults import Fault
from gal_exec.sim.params import INT32, get_bool, get_int, get_text

__all__ = ["SimRestServer"]

log = logging.getLogger(__name__)

_ENCODER = msgspec.json.Encoder(decimal_format="number")
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_INDEXED = re.compile(r"^(\w+)\[(\d*)\](?:\[(\w+)\])?$")
_HTML = "<html><head><title>{0} {1}</title></head><body><h1>{0} {1}</h1></body></html>"

Method = Callable[[Exchange, str, dict[str, Any]], Any]


def _batch_ids(items: Any) -> tuple[list, list]:
    ids: list = []
    cl_ord_ids: list = []
    for item in items or []:
        if isinstance(item, dict):
            if item.get("cl_ord_id") is not None:
                cl_ord_ids.append(item["cl_ord_id"])
            for name in ("txid", "userref"):
                if item.get(name) is not None:
                    ids.append(item[name])
        else:
            ids.append(item)
    return ids, cl_ord_ids


def _cancel_batch(ex: Exchange, key: str, p: dict) -> Any:
    ids, cl_ord_ids = _batch_ids(p.get("orders"))
    extra = p.get("cl_ord_ids") or []
    if isinstance(extra, str):
        extra = [part for part in extra.split(",") if part]
    return ex.cancel_order_batch(key, ids, cl_ord_ids + list(extra))


def _userref(p: dict) -> int | None:
    return get_int(p, "userref", INT32)


PRIVATE: dict[str, Method] = {
    "AddOrder": lambda ex, key, p: ex.add_order(key, p),
    "AddOrderBatch": lambda ex, key, p: ex.add_order_batch(
        key,
        p.get("pair"),
        p.get("orders"),
        validate=get_bool(p, "validate"),
        deadline=get_text(p, "deadline"),
    ),
    "AmendOrder": lambda ex, key, p: ex.amend_order(key, p),
    "CancelOrder": lambda ex, key, p: ex.cancel_order(
        key, txid=p.get("txid"), cl_ord_id=get_text(p, "cl_ord_id")
    ),
    "CancelOrderBatch": _cancel_batch,
    "CancelAll": lambda ex, key, p: ex.cancel_all(key),
    "CancelAllOrdersAfter": lambda ex, key, p: ex.cancel_all_orders_after(key, p.get("timeout")),
    "QueryOrders": lambda ex, key, p: ex.query_orders(
        key, p.get("txid"), trades=get_bool(p, "trades"), userref=_userref(p)
    ),
    "OpenOrders": lambda ex, key, p: ex.open_orders(
        key, trades=get_bool(p, "trades"), userref=_userref(p), cl_ord_id=get_text(p, "cl_ord_id")
    ),
    "ClosedOrders": lambda ex, key, p: ex.closed_orders(
        key,
        trades=get_bool(p, "trades"),
        userref=_userref(p),
        cl_ord_id=get_text(p, "cl_ord_id"),
        start=p.get("start"),
        end=p.get("end"),
        ofs=p.get("ofs"),
        closetime=get_text(p, "closetime") or "both",
    ),
    "QueryTrades": lambda ex, key, p: ex.query_trades(key, p.get("txid")),
    "TradesHistory": lambda ex, key, p: ex.trades_history(
        key, start=p.get("start"), end=p.get("end"), ofs=p.get("ofs")
    ),
    "GetWebSocketsToken": lambda ex, key, p: {"token": ex.issue_ws_token(key), "expires": 900},
    "Balance": lambda ex, key, p: ex.balance(key),
    "GetApiKeyInfo": lambda ex, key, p: ex.api_key_info(key),
    "BalanceEx": lambda ex, key, p: ex.balance_ex(key),
}

PUBLIC: dict[str, Callable[[Exchange, dict[str, Any]], Any]] = {
    "Time": lambda ex, p: ex.time(),
    "SystemStatus": lambda ex, p: ex.system_status(),
    "Assets": lambda ex, p: ex.assets(get_text(p, "asset")),
    "AssetPairs": lambda ex, p: ex.asset_pairs(get_text(p, "pair")),
    "Ticker": lambda ex, p: ex.ticker(get_text(p, "pair")),
}


def parse_form(text: str) -> dict[str, Any]:
    """A form body as a dict; ``orders[0][price]`` and ``ids[]`` become lists."""
    params: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        match = _INDEXED.match(key)
        if match is None or match.group(1) == "close":
            params[key] = value
            continue
        name, index, field = match.groups()
        items = params.setdefault(name, [])
        if not isinstance(items, list):
            raise SimError(errors.INVALID_ARGUMENTS)
        if field is None:
            items.append(value)
            continue
        position = int(index or 0)
        while len(items) <= position:
            items.append({})
        items[position][field] = value
    return params


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """Form or JSON body (JSON when the type says so or the body is an object)."""
    if not body.strip():
        return {}
    if "json" in content_type or body.lstrip()[:1] == b"{":
        try:
            params = _DECODER.decode(body)
        except msgspec.DecodeError:
            raise SimError(errors.INVALID_ARGUMENTS) from None
        if not isinstance(params, dict):
            raise SimError(errors.INVALID_ARGUMENTS)
        return params
    try:
        return parse_form(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise SimError(errors.INVALID_ARGUMENTS) from None


def _nonce_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return str(value) if value == value.to_integral_value() else None
    return str(value)


class _Headers(dict):
    """Request headers by lower-case name; ``get`` is case-insensitive."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "gal-exec-sim"
    server: _Server
    raw_requestline: bytes  # read by the stdlib's handle_one_request (not in its stubs)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def parse_request(self) -> bool:
        # The stdlib parses headers with the email package (~100 us a request); this reads the
        # plain "Name: value" lines HTTP/1.1 clients send, which is all the simulator needs.
        self.command = None  # type: ignore[assignment]
        self.requestline = self.raw_requestline.decode("iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.request_version = "HTTP/1.0"
            self.close_connection = True
            self.send_error(400, "Bad request line")
            return False
        self.command, self.path, self.request_version = words
        headers = _Headers()
        for _ in range(100):
            line = self.rfile.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("iso-8859-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            self.close_connection = True
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        connection = headers.get("connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive"
        )
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing -------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, payload: Any) -> None:
        self._send_raw(status, _ENCODER.encode(payload), "application/json; charset=utf-8")

    def _send_raw(self, status: int, body: bytes, content_type: str) -> None:
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        )
        if self.close_connection:
            head += "Connection: close\r\n"
        self.wfile.write(head.encode("ascii") + b"\r\n" + body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _apply(self, fault: Fault | None) -> bool:
        """Carry out a fault; True when it answered (or dropped) the request itself."""
        if fault is None:
            return False
        if fault.delay_s > 0:
            time.sleep(fault.delay_s)
        if fault.kind.startswith("http_"):
            phrase = HTTPStatus(fault.status).phrase
            body = _HTML.format(fault.status, phrase).encode("ascii")
            self._send_raw(fault.status, body, "text/html")
            return True
        if fault.kind == "drop":
            self._drop()
            return True
        if fault.kind == "unavailable":
            self._send(200, {"error": [errors.SERVICE_UNAVAILABLE]})
            return True
        if fault.kind == "error":
            self._send(200, {"error": [fault.message]})
            return True
        return False

    # -- routing --------------------------------------------------------------------------

    def _handle(self, verb: str) -> None:
        path, _, query = self.path.partition("?")
        body = self._read_body()
        exchange = self.server.exchange
        try:
            if path.startswith("/0/private/"):
                self._private(exchange, verb, path, body)
            elif path.startswith("/0/public/"):
                self._public(exchange, path, query, body)
            elif path == "/sim" or path.startswith("/sim/"):
                self._control(exchange, verb, path, body)
            else:
                self._send(404, {"error": [errors.UNKNOWN_METHOD]})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _private(self, exchange: Exchange, verb: str, path: str, body: bytes) -> None:
        endpoint = path[len("/0/private/") :]
        method = PRIVATE.get(endpoint)
        if method is None:
            self._send(200, {"error": [errors.UNKNOWN_METHOD]})
            return
        if self._apply(exchange.faults.rest_before(endpoint)):
            return
        api_key = self.headers.get("API-Key")
        try:
            if verb != "POST":
                raise SimError(errors.INVALID_ARGUMENTS)
            params = parse_body(body, self.headers.get("Content-Type", ""))
            exchange.authenticate(
                api_key, self.headers.get("API-Sign"), path, body, _nonce_text(params.get("nonce"))
            )
            key = api_key or ""
            exchange.require_permission(key, endpoint)
            exchange.charge_rest(key, endpoint)
            payload: dict[str, Any] = {"error": [], "result": method(exchange, key, params)}
        except SimError as exc:
            payload = {"error": [exc.message]}
        except Exception:
            log.exception("simulator failed on %s", endpoint)
            payload = {"error": ["EGeneral:Internal error"]}
        if self._apply(exchange.faults.rest_after(endpoint)):
            return
        self._send(200, payload)

    def _public(self, exchange: Exchange, path: str, query: str, body: bytes) -> None:
        endpoint = path[len("/0/public/") :]
        method = PUBLIC.get(endpoint)
        if method is None:
            self._send(200, {"error": [errors.UNKNOWN_METHOD]})
            return
        if self._apply(exchange.faults.rest_before(endpoint)):
            return
        try:
            params = parse_form(query) if query else {}
            params.update(parse_body(body, self.headers.get("Content-Type", "")))
            payload: dict[str, Any] = {"error": [], "result": method(exchange, params)}
        except SimError as exc:
            payload = {"error": [exc.message]}
        if self._apply(exchange.faults.rest_after(endpoint)):
            return
        self._send(200, payload)

    def _control(self, exchange: Exchange, verb: str, path: str, body: bytes) -> None:
        host = self.client_address[0]
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            self._send(403, {"error": "the control API answers loopback clients only"})
            return
        status, payload = control.handle(exchange, verb, path, body)
        self._send(status, payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], exchange: Exchange) -> None:
        self.exchange = exchange
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End open keep-alive connections, so a stopped server answers nothing more."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SimRestServer:
    """Kraken's REST API (and /sim/) for one Exchange on ``host:port`` (0: ephemeral)."""

    def __init__(self, exchange: Exchange, host: str = "127.0.0.1", port: int = 0) -> None:
        self.exchange = exchange
        self._server = _Server((host, port), exchange)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The base URL: ``url + "/0/private/AddOrder"`` is the endpoint."""
        host = self._server.server_address[0]
        assert isinstance(host, str)  # an AF_INET server's address
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sim-rest-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.close_connections()
        self._server.server_close()
