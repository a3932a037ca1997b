"""Concurrent private calls never trip a strict nonce check: requests leave in nonce order.

A tiny fake Kraken on loopback verifies each request's signature over the bytes it received and
refuses any nonce not above the last it accepted, as Kraken does with no nonce window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
import requests

from gal_exec.core.clock import ManualClock
from gal_exec.kraken.auth import Credentials
from gal_exec.kraken.errors import KrakenAPIError
from gal_exec.kraken.nonce import NonceSequencer
from gal_exec.kraken.rest import KrakenRestClient

SECRET = base64.b64encode(bytes(range(64))).decode()
API_KEY = "loopback-key"


class StrictNonceLedger:
    """The server side of one key: the last accepted nonce and every verdict, in arrival order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last = 0
        self.accepted: list[int] = []
        self.rejected: list[int] = []

    def admit(self, nonce: int) -> bool:
        with self.lock:
            if nonce <= self.last:
                self.rejected.append(nonce)
                return False
            self.last = nonce
            self.accepted.append(nonce)
            return True


def _expected_signature(path: str, nonce: int, body: bytes) -> str:
    digest = hashlib.sha256(str(nonce).encode() + body).digest()
    mac = hmac.new(base64.b64decode(SECRET), path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def _handler(ledger: StrictNonceLedger) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as against Kraken

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            nonce = int(dict(parse_qsl(body.decode()))["nonce"])
            if self.headers["API-Sign"] != _expected_signature(self.path, nonce, body):
                reply: dict[str, object] = {"error": ["EAPI:Invalid signature"]}
            elif not ledger.admit(nonce):
                reply = {"error": ["EAPI:Invalid nonce"]}
            else:
                reply = {"error": [], "result": {"ZUSD": "1.0"}}
            payload = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def fake_kraken() -> Iterator[tuple[str, StrictNonceLedger]]:
    ledger = StrictNonceLedger()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(ledger))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", ledger
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_threads_on_two_clients_of_one_key_never_get_invalid_nonce(
    fake_kraken: tuple[str, StrictNonceLedger],
) -> None:
    url, ledger = fake_kraken
    clock = ManualClock()  # a frozen clock: every nonce after the first comes from last + 1
    sequencer = NonceSequencer(clock)
    credentials = Credentials(API_KEY, SECRET)
    clients = [
        KrakenRestClient(url, credentials, nonce=sequencer, clock=clock, read_timeout=5)
        for _ in range(2)
    ]
    failures: list[BaseException] = []
    start = threading.Barrier(6)

    def worker(client: KrakenRestClient) -> None:
        start.wait(timeout=10)
        for _ in range(20):
            try:
                client.balance()
            except BaseException as error:
                failures.append(error)

    threads = [threading.Thread(target=worker, args=(clients[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for client in clients:
        client.close()
    assert failures == []
    assert ledger.rejected == []
    assert len(ledger.accepted) == 120


# --- the gate is what makes the difference: a fake session that holds the first request -------


def _reply(body: dict[str, object]) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(body).encode()
    return response


class HoldingSession(requests.Session):
    """Holds the first POST "on the wire" until released; judges nonces like Kraken."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger = StrictNonceLedger()
        self.first_in_flight = threading.Event()
        self.release_first = threading.Event()
        self.second_arrived = threading.Event()
        self._calls = 0
        self._lock = threading.Lock()

    def post(self, url: str, data: object = None, **kwargs: object) -> requests.Response:  # type: ignore[override]
        assert isinstance(data, bytes)
        nonce = int(dict(parse_qsl(data.decode()))["nonce"])
        with self._lock:
            self._calls += 1
            first = self._calls == 1
        if first:
            self.first_in_flight.set()
            assert self.release_first.wait(timeout=10)
        else:
            self.second_arrived.set()
        if self.ledger.admit(nonce):
            return _reply({"error": [], "result": {"ZUSD": "1"}})
        return _reply({"error": ["EAPI:Invalid nonce"]})


def _run_two_calls(window: int) -> tuple[HoldingSession, list[BaseException], bool]:
    session = HoldingSession()
    client = KrakenRestClient(
        "http://127.0.0.1:9",
        Credentials(API_KEY, SECRET),
        clock=ManualClock(),
        session=session,
        nonce_window=window,
    )
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.balance()
        except BaseException as error:
            errors.append(error)

    first = threading.Thread(target=call)
    first.start()
    assert session.first_in_flight.wait(timeout=5)
    second = threading.Thread(target=call)
    second.start()
    # Bounded check that the second request does (window) or does not (no window) overtake.
    overtook = session.second_arrived.wait(timeout=0.3)
    session.release_first.set()
    first.join(timeout=10)
    second.join(timeout=10)
    return session, errors, overtook


def test_without_window_a_later_nonce_cannot_overtake() -> None:
    session, errors, overtook = _run_two_calls(window=0)
    assert not overtook
    assert errors == []
    assert session.ledger.rejected == [] and len(session.ledger.accepted) == 2


def test_with_window_calls_overlap_and_a_strict_server_would_refuse() -> None:
    # Shows the fake is strict and the gate is what protects us: with a window configured, the
    # second call overtakes, and a server without that window rejects the older nonce.
    session, errors, overtook = _run_two_calls(window=1_000_000)
    assert overtook
    assert len(errors) == 1 and isinstance(errors[0], KrakenAPIError)
    assert errors[0].errors == ["EAPI:Invalid nonce"]
    assert len(session.ledger.rejected) == 1
