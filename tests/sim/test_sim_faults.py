"""Fault injection: the seeded plan's selection rules, and each REST fault on the wire."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator

import pytest
from sim_testkit import Client, simulator

from gal_exec.sim import FaultPlan, FaultPlanError

ORDER = {
    "pair": "XBTUSD",
    "type": "buy",
    "ordertype": "limit",
    "price": "50000",
    "volume": "0.01",
    "cl_ord_id": "maybe-placed",
}


def fired(plan: FaultPlan, endpoint: str, count: int) -> list[bool]:
    return [plan.rest_before(endpoint) is not None for _ in range(count)]


def test_every_next_and_skip() -> None:
    plan = FaultPlan.from_dict(
        {
            "rules": [
                {"endpoint": "Balance", "kind": "unavailable", "every": 3},
                {"endpoint": "OpenOrders", "kind": "unavailable", "skip": 2, "next": 2},
            ]
        }
    )
    assert fired(plan, "Balance", 6) == [False, False, True, False, False, True]
    assert fired(plan, "OpenOrders", 6) == [False, False, True, True, False, False]
    assert fired(plan, "Time", 3) == [False] * 3


def test_probability_is_seeded() -> None:
    spec = {"seed": 5, "rules": [{"kind": "error", "probability": 0.3}]}
    first = fired(FaultPlan.from_dict(spec), "Balance", 200)
    assert first == fired(FaultPlan.from_dict(spec), "Balance", 200)
    assert 30 < sum(first) < 90
    other = fired(FaultPlan.from_dict({"seed": 6, "rules": spec["rules"]}), "Balance", 200)
    assert other != first


def test_latencies_add_up_and_first_action_wins() -> None:
    plan = FaultPlan.from_dict(
        [
            {"kind": "latency", "delay_s": 0.1},
            {"kind": "latency", "delay_s": 0.2},
            {"kind": "error", "message": "EService:Busy"},
            {"kind": "unavailable"},
            {"kind": "http_503", "when": "after"},
        ]
    )
    before = plan.rest_before("Balance")
    assert before is not None
    assert (before.kind, before.message, round(before.delay_s, 3)) == (
        "error",
        "EService:Busy",
        0.3,
    )
    after = plan.rest_after("Balance")
    assert after is not None and (after.kind, after.status) == ("http_503", 503)


def test_ws_rules() -> None:
    plan = FaultPlan.from_dict(
        [{"kind": "ws_delay", "delay_s": 0.5, "next": 1}, {"kind": "ws_disconnect", "every": 2}]
    )
    assert [plan.ws_update_delay_s() for _ in range(2)] == [0.5, 0.0]
    assert [plan.ws_disconnect_due() for _ in range(4)] == [False, True, False, True]
    assert plan.rest_before("Balance") is None


def test_ws_request_rules_match_the_method_and_the_moment() -> None:
    plan = FaultPlan.from_dict(
        [
            {"endpoint": "add_order", "kind": "ws_drop", "next": 1},
            {"endpoint": "cancel_order", "kind": "ws_no_reply", "when": "before"},
            {"kind": "ws_error_no_req_id", "message": "EService:Unavailable", "skip": 1},
        ]
    )
    assert plan.ws_request("add_order", "before") is None  # the first add_order: not yet
    drop = plan.ws_request("add_order", "after")  # ws_drop processes first by default
    assert drop is not None and drop.kind == "ws_drop"
    assert plan.ws_request("add_order", "after") is None  # spent
    lost = plan.ws_request("cancel_order", "before")
    assert lost is not None and lost.kind == "ws_no_reply"
    error = plan.ws_request("amend_order", "before")
    assert error is not None and (error.kind, error.message) == (
        "ws_error_no_req_id",
        "EService:Unavailable",
    )
    assert plan.rest_before("AddOrder") is None and plan.ws_update_delay_s() == 0.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"rules": [{"kind": "boom"}]}, "faults.rules[0].kind"),
        ({"rules": [{"kind": "error", "probability": 2}]}, "faults.rules[0].probability"),
        ({"rules": [{"kind": "unavailable", "when": "after"}]}, "faults.rules[0].when"),
        ({"rules": [{"kind": "drop", "color": "red"}]}, "faults.rules[0].color"),
        ({"rules": {}}, "faults.rules"),
    ],
)
def test_bad_plans_name_the_field(spec: dict, message: str) -> None:
    with pytest.raises(FaultPlanError, match=message.replace("[", r"\[").replace("]", r"\]")):
        FaultPlan.from_dict(spec)


def test_load_names_the_file(tmp_path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{not json")
    with pytest.raises(FaultPlanError, match=r"plan\.json: faults: not valid JSON"):
        FaultPlan.load(path)


@pytest.fixture
def sim() -> Iterator:
    with simulator() as running:
        yield running


def set_plan(client: Client, rules: list[dict]) -> None:
    status, answer = client.control("PUT", "faults", {"rules": rules})
    assert status == 200 and answer == {"ok": True, "rules": len(rules)}


def orders(client: Client) -> list[dict]:
    return client.control("GET", "orders")[1]["orders"]


def test_5xx_after_acceptance_leaves_the_order_live(sim) -> None:
    client = Client(sim.rest_url)
    set_plan(client, [{"endpoint": "AddOrder", "kind": "http_502", "next": 1}])
    status, body = client.private_raw("AddOrder", ORDER)
    assert status == 502 and b"Bad Gateway" in body
    placed = orders(client)
    assert [(o["cl_ord_id"], o["status"]) for o in placed] == [("maybe-placed", "open")]
    found = client.ok("OpenOrders", {"cl_ord_id": "maybe-placed"})["open"]
    assert list(found) == [placed[0]["txid"]]


def test_5xx_before_processing_places_nothing(sim) -> None:
    client = Client(sim.rest_url)
    set_plan(client, [{"endpoint": "AddOrder", "kind": "http_504", "when": "before"}])
    assert client.private_raw("AddOrder", ORDER)[0] == 504
    assert orders(client) == []


def test_dropped_connection_after_acceptance(sim) -> None:
    client = Client(sim.rest_url)
    set_plan(client, [{"endpoint": "AddOrder", "kind": "drop", "next": 1}])
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        client.private_raw("AddOrder", ORDER)
    assert [o["status"] for o in orders(client)] == ["open"]
    client.ok("CancelOrder", {"cl_ord_id": "maybe-placed"})  # the next request is served


def test_unavailable_before_processing(sim) -> None:
    client = Client(sim.rest_url)
    set_plan(client, [{"endpoint": "AddOrder", "kind": "unavailable", "next": 1}])
    assert client.error("AddOrder", ORDER) == "EService:Unavailable"
    assert orders(client) == []
    assert client.ok("AddOrder", ORDER)["txid"]


def test_latency_and_plan_replacement(sim) -> None:
    client = Client(sim.rest_url)
    set_plan(client, [{"endpoint": "Time", "kind": "latency", "delay_s": 0.2}])
    started = time.monotonic()
    client.public("Time")
    assert time.monotonic() - started >= 0.2
    set_plan(client, [])
    status, answer = client.control("GET", "faults")
    assert (status, answer) == (200, {"rules": []})


def test_bad_plan_over_control_api(sim) -> None:
    client = Client(sim.rest_url)
    status, answer = client.control("PUT", "faults", {"rules": [{"kind": "nope"}]})
    assert status == 400 and "faults.rules[0].kind" in answer["error"]


def test_plan_file_from_config(tmp_path) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"rules": [{"endpoint": "Balance", "kind": "unavailable"}]}))
    with simulator(faults=str(path)) as running:
        assert Client(running.rest_url).error("Balance") == "EService:Unavailable"
