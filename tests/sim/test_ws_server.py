"""The simulator's WS v2 server over a fake exchange: connection admin, faults and lifecycle."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import websocket
from ws_testkit import Client, FakeExchange, connect, subscribe_executions

from gal_exec.sim.ws_server import SimWsServer

RFC3339_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def exchange() -> FakeExchange:
    return FakeExchange()


@pytest.fixture
def auth_server(exchange: FakeExchange) -> Iterator[SimWsServer]:
    with SimWsServer(exchange, public=False, heartbeat_interval_s=60) as server:
        yield server


@pytest.fixture
def client(auth_server: SimWsServer) -> Iterator[Client]:
    connection = connect(auth_server.url)
    yield connection
    connection.close()


# -- admin -----------------------------------------------------------------------------------


def test_status_message_on_connect_has_a_uint64_connection_id(auth_server: SimWsServer) -> None:
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/v2", auth_server.url)
    client = Client(auth_server.url)
    status = client.recv()
    client.close()
    assert status["channel"] == "status" and status["type"] == "update"
    data = status["data"][0]
    assert data["api_version"] == "v2" and data["system"] == "online"
    assert data["version"] == "2.0.0"
    assert 2**63 <= data["connection_id"] < 2**64


def test_ping_answers_pong_with_req_id_and_times(client: Client) -> None:
    client.send({"method": "ping", "req_id": 101})
    pong = client.recv()
    assert pong["method"] == "pong" and pong["req_id"] == 101
    assert RFC3339_US.match(pong["time_in"]) and RFC3339_US.match(pong["time_out"])


def test_ping_with_params_is_an_unsupported_field(client: Client) -> None:
    client.send({"method": "ping", "params": {}, "req_id": 0})
    answer = client.recv()
    assert answer["success"] is False
    assert answer["error"] == "Unsupported field: 'params' for the given msg type: ping"


def test_malformed_json_and_unknown_method_are_errors_not_crashes(client: Client) -> None:
    client.send("{this is not json")
    assert client.recv()["error"] == "Malformed request"
    client.send({"method": "fly_to_moon", "req_id": 9})
    answer = client.recv()
    assert answer == {**answer, "error": "Unsupported event", "method": "fly_to_moon"}
    assert answer["success"] is False and answer["req_id"] == 9
    client.send({"method": "ping", "req_id": 1})
    assert client.recv()["method"] == "pong"


def test_wrong_path_is_refused(auth_server: SimWsServer) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(auth_server.url.replace("/v2", "/v1"), timeout=5)


def test_heartbeat_only_after_a_subscription(exchange: FakeExchange) -> None:
    with SimWsServer(exchange, public=True, heartbeat_interval_s=0.05) as server:
        client = Client(server.url)
        client.recv()  # status
        client.ws.settimeout(0.3)
        with pytest.raises(websocket.WebSocketTimeoutException):
            client.recv()
        client.ws.settimeout(5)
        client.send({"method": "subscribe", "params": {"channel": "ticker", "symbol": ["BTC/USD"]}})
        assert client.recv()["success"] is True
        assert client.recv()["type"] == "snapshot"
        assert client.recv() == {"channel": "heartbeat"}
        assert client.recv() == {"channel": "heartbeat"}
        client.close()


# -- faults and lifecycle --------------------------------------------------------------------


def test_delayed_updates_wait_for_the_clock_while_replies_overtake(
    client: Client, exchange: FakeExchange
) -> None:
    subscribe_executions(client)
    client.recv()
    exchange.faults.delay_s = 2.0
    exchange.emit([{"order_id": "O-1", "exec_type": "pending_new"}])
    exchange.faults.delay_s = 0.0
    exchange.emit([{"order_id": "O-1", "exec_type": "new"}])  # must stay behind the delayed one
    client.send({"method": "ping", "req_id": 1})
    assert client.recv()["method"] == "pong"
    exchange.clock.advance(2.0)
    first, second = client.recv(), client.recv()
    assert [(m["sequence"], m["data"][0]["exec_type"]) for m in (first, second)] == [
        (2, "pending_new"),
        (3, "new"),
    ]


def test_fault_plan_disconnect_drops_the_connection_and_unsubscribes(
    client: Client, exchange: FakeExchange, auth_server: SimWsServer
) -> None:
    subscribe_executions(client)
    client.recv()
    exchange.faults.disconnect = True
    exchange.emit([{"order_id": "O-1", "exec_type": "new"}])
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        client.recv()
    assert exchange.unsubscribed.wait(5)
    assert not exchange.executions


def test_disconnect_all_cuts_every_connection(
    auth_server: SimWsServer, exchange: FakeExchange
) -> None:
    clients = [Client(auth_server.url) for _ in range(2)]
    for each in clients:
        each.recv()
    subscribe_executions(clients[0])
    clients[0].recv()
    assert auth_server.disconnect_all() == 2
    for each in clients:
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            each.recv()
    assert exchange.unsubscribed.wait(5)
    # The server keeps accepting new connections.
    again = Client(auth_server.url)
    assert again.recv()["channel"] == "status"
    again.close()


def test_stop_closes_connections_and_is_idempotent(exchange: FakeExchange) -> None:
    server = SimWsServer(exchange, public=False).start()
    client = Client(server.url)
    client.recv()
    subscribe_executions(client)
    client.recv()
    server.stop()
    server.stop()
    assert not exchange.executions
    assert server.connection_count == 0
    opcode, frame = client.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame[:2], "big") == 1001  # going away
    with pytest.raises(ConnectionRefusedError):
        websocket.create_connection(server.url, timeout=2)
