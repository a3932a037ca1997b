"""The keep-alive http.client backend on loopback: reuse, reconnect after an idle close, and the
same TransportError mapping as the requests backend (never "not sent" once a request may have
left)."""

from __future__ import annotations

import base64
import select
import socket
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from gal_exec.core.clock import ManualClock
from gal_exec.kraken.auth import Credentials
from gal_exec.kraken.errors import ErrorCategory, TransportError
from gal_exec.kraken.rest import KrakenRestClient

SECRET = base64.b64encode(bytes(range(64))).decode()
TIME_REPLY = b'{"error":[],"result":{"unixtime":5,"rfc1123":"x"}}'
BALANCE_REPLY = b'{"error":[],"result":{"ZUSD":"1.5"}}'


def _http_reply(body: bytes, status: str = "200 OK", close: bool = False) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body


def _read_request(conn: socket.socket) -> bytes:
    """One HTTP request (head and a Content-Length body), or b'' if the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        body += conn.recv(65536)
    return head


Behaviour = Callable[[socket.socket, bytes], bool]
"""Given a connection and the request head: answer (or not); False closes the connection."""


class ScriptedServer:
    """A loopback HTTP/1.1 server whose answer to each request is scripted by the test."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.script: list[Behaviour] = []
        self.accepted = 0
        self.requests: list[bytes] = []
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self.connections.append(conn)
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    head = _read_request(conn)
                except OSError:
                    return
                if not head:
                    return
                self.requests.append(head)
                behaviour = self.script.pop(0) if self.script else _answer(TIME_REPLY)
                if not behaviour(conn, head):
                    return

    def close_idle_connections(self) -> None:
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()
        self.close_idle_connections()


def _answer(body: bytes, status: str = "200 OK", close: bool = False) -> Behaviour:
    def behaviour(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(_http_reply(body, status, close))
        return not close

    return behaviour


def _hang_up(conn: socket.socket, head: bytes) -> bool:
    return False


def _never_answer(gate: threading.Event) -> Behaviour:
    def behaviour(conn: socket.socket, head: bytes) -> bool:
        gate.wait(10)
        return False

    return behaviour


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    running = ScriptedServer()
    try:
        yield running
    finally:
        running.stop()


def _client(url: str, *, read_timeout: float = 10.0) -> KrakenRestClient:
    return KrakenRestClient(
        url,
        Credentials("KEY", SECRET),
        clock=ManualClock(start=1_700_000_000.0),
        http="stdlib",
        read_timeout=read_timeout,
    )


def test_calls_share_one_connection_with_nagle_off(server: ScriptedServer) -> None:
    client = _client(server.url)
    server.script += [_answer(TIME_REPLY), _answer(BALANCE_REPLY), _answer(TIME_REPLY)]
    assert client.time().unixtime == 5
    assert client.balance()["ZUSD"] == Decimal("1.5")
    assert client.time().unixtime == 5
    assert server.accepted == 1
    sock = client._http._connection.sock  # type: ignore[attr-defined]
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    first, second = server.requests[0], server.requests[1]
    assert first.startswith(b"GET /0/public/Time ") and b"User-Agent: gal-exec" in first
    assert second.startswith(b"POST /0/private/Balance ") and b"API-Sign: " in second
    client.close()


def test_a_keep_alive_dropped_while_idle_is_reopened_before_sending(
    server: ScriptedServer,
) -> None:
    client = _client(server.url)
    assert client.time().unixtime == 5
    sock = client._http._connection.sock  # type: ignore[attr-defined]
    server.close_idle_connections()
    assert select.select([sock], [], [], 5)[0], "the server's close never reached the client"
    # The next call must not fail: nothing was sent on the dead connection.
    server.script.append(_answer(BALANCE_REPLY))
    assert client.balance()["ZUSD"] == Decimal("1.5")
    assert server.accepted == 2
    client.close()


def test_connection_close_from_the_server_is_honoured(server: ScriptedServer) -> None:
    client = _client(server.url)
    server.script += [_answer(TIME_REPLY, close=True), _answer(TIME_REPLY)]
    client.time()
    client.time()
    assert server.accepted == 2
    client.close()


def test_refused_connection_is_connect_failed_and_retryable_for_an_order() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    client = _client(f"http://127.0.0.1:{port}")
    with pytest.raises(TransportError) as caught:
        client.balance()
    assert caught.value.kind == "connect_failed"
    assert caught.value.classify(placing=True).category is ErrorCategory.RETRYABLE


def test_hang_up_after_the_request_left_is_outcome_unknown(server: ScriptedServer) -> None:
    client = _client(server.url)
    server.script.append(_hang_up)
    with pytest.raises(TransportError) as caught:
        client.balance()
    assert caught.value.kind == "connection_reset"
    assert caught.value.classify(placing=True).category is ErrorCategory.OUTCOME_UNKNOWN
    # The broken connection is not reused.
    assert client.time().unixtime == 5
    assert server.accepted == 2


def test_no_reply_in_time_is_a_timeout(server: ScriptedServer) -> None:
    gate = threading.Event()
    client = _client(server.url, read_timeout=0.2)
    server.script.append(_never_answer(gate))
    try:
        with pytest.raises(TransportError) as caught:
            client.balance()
    finally:
        gate.set()
    assert caught.value.kind == "timeout"
    assert caught.value.classify(placing=True).category is ErrorCategory.OUTCOME_UNKNOWN


def test_server_error_status_maps_like_the_requests_backend(server: ScriptedServer) -> None:
    client = _client(server.url)
    server.script.append(_answer(b"<html>bad gateway</html>", status="502 Bad Gateway"))
    with pytest.raises(TransportError) as caught:
        client.balance()
    assert caught.value.kind == "http_5xx" and caught.value.status == 502
    client.close()


def test_tls_rules_apply_to_the_stdlib_backend() -> None:
    clock = ManualClock()
    with pytest.raises(ValueError, match="plain http"):
        KrakenRestClient("http://api.kraken.com", None, clock=clock, http="stdlib")
    with pytest.raises(ValueError, match="TLS verification"):
        KrakenRestClient("https://api.kraken.com", None, clock=clock, verify=False, http="stdlib")
    secure = KrakenRestClient("https://api.kraken.com", None, clock=clock, http="stdlib")
    context = secure._http._context  # type: ignore[attr-defined]
    assert context.verify_mode.name == "CERT_REQUIRED" and context.check_hostname
