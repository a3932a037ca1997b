"""The gateway's WebSocket request book without threads: what the socket carries, the frames,
and which waiting request an answer, an error without req_id, a drop or a timeout concerns."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from gal_exec.kraken.jobs import Dispatch, Job, JobKind
from gal_exec.kraken.orders import OrderRequest, RelativePrice
from gal_exec.kraken.ws_codec import MethodResponse
from gal_exec.kraken.ws_entry import WsOrderEntry
from gal_exec.sim.ws_wire import decode

D = Decimal


def _entry() -> WsOrderEntry:
    entry = WsOrderEntry(enabled=True, timeout_s=5.0)
    entry.up(3, channel=object(), symbols={"XBTUSD": "BTC/USD"})
    return entry


def _place(cl_ord_id: str, pair: str = "XBTUSD", **fields: Any) -> Job:
    values: dict[str, Any] = {"ordertype": "limit", "price": D("64000")} | fields
    order = OrderRequest(pair=pair, type="buy", volume=D("0.01"), cl_ord_id=cl_ord_id, **values)
    request = SimpleNamespace(request_id=1, cl_ord_id=cl_ord_id)
    return Job(JobKind.PLACE, request, pair=pair, cl_ord_id=cl_ord_id, order=order)


def _dispatch(*jobs: Job) -> Dispatch:
    return Dispatch(
        jobs[0].kind,
        "AddOrder",
        jobs,
        pair=jobs[0].pair,
        trading_cost=1,
        rest_cost=0,
        trial_for=(),
        path="ws",
    )


def _answer(method: str | None, req_id: int | None, success: bool = True) -> MethodResponse:
    return MethodResponse(method=method, req_id=req_id, success=success)


def test_what_the_socket_carries() -> None:
    entry = _entry()
    assert entry.carries(_place("a"))
    assert not entry.carries(_place("b", pair="NOPEUSD"))  # no WS symbol known
    trailing = _place("c", ordertype="trailing-stop", price=RelativePrice(offset=D("5"), sign="#"))
    assert not entry.carries(trailing) and trailing.wire is not None  # decided once
    assert not entry.carries(Job(JobKind.STATUS, None, txid="T1"))
    assert entry.carries(Job(JobKind.CANCEL, None, cl_ord_id="a", txid="T1"))


def test_frames_carry_a_req_id_the_token_and_the_ws_symbol() -> None:
    entry = _entry()
    single, first, second = _place("a"), _place("b"), _place("c")
    for job in (single, first, second):
        assert entry.carries(job)
    req_id, method, frame = entry.frame(_dispatch(single), "tok")
    message = decode(frame)
    assert (method, message["method"], message["req_id"]) == ("add_order", "add_order", req_id)
    assert message["params"]["symbol"] == "BTC/USD" and message["params"]["token"] == "tok"
    assert message["params"]["cl_ord_id"] == "a"
    next_id, method, frame = entry.frame(_dispatch(first, second), "tok")
    batch = decode(frame)
    assert next_id == req_id + 1 and method == "batch_add"
    assert [order["cl_ord_id"] for order in batch["params"]["orders"]] == ["b", "c"]
    cancel = Job(JobKind.CANCEL, SimpleNamespace(), cl_ord_id="a", txid="OTX-1")
    _, method, frame = entry.frame(_dispatch(cancel), "tok")
    assert (method, decode(frame)["params"]["order_id"]) == ("cancel_order", ["OTX-1"])


def test_an_answer_settles_only_its_own_request_on_its_own_connection() -> None:
    entry = _entry()
    job = _place("a")
    entry.carries(job)
    req_id, method, _ = entry.frame(_dispatch(job), "tok")
    entry.sent(req_id, method, _dispatch(job), now=100.0, sent_at=0.0)
    assert entry.answer(3, _answer("cancel_order", req_id)) is None
    assert entry.answer(4, _answer("add_order", req_id)) is None
    assert entry.answer(3, _answer("add_order", req_id + 1)) is None
    assert entry.answer(3, _answer("add_order", req_id)).req_id == req_id  # type: ignore[union-attr]
    assert entry.pending == {}


def test_an_error_without_req_id_concerns_every_waiting_request_it_may_answer() -> None:
    entry = _entry()
    for req_id, method in ((1, "add_order"), (2, "cancel_order"), (3, "add_order")):
        entry.sent(req_id, method, _dispatch(_place(str(req_id))), now=0.0, sent_at=0.0)
    assert [item.req_id for item in entry.unattributed(3, "add_order")] == [1, 3]
    assert [item.req_id for item in entry.unattributed(3, None)] == [2]
    assert entry.pending == {}


def test_timeouts_and_a_drop() -> None:
    entry = _entry()
    entry.sent(1, "add_order", _dispatch(_place("a")), now=0.0, sent_at=0.0)
    entry.sent(2, "add_order", _dispatch(_place("b")), now=3.0, sent_at=0.0)
    assert entry.next_deadline() == 5.0
    assert [item.req_id for item in entry.expired(5.0)] == [1]
    assert entry.next_deadline() == 8.0
    assert [item.req_id for item in entry.down(3)] == [2]
    assert not entry.ready and entry.next_deadline() is None


def test_deadlines_in_send_order_and_after_the_clock_was_set_back() -> None:
    entry = _entry()
    for req_id in range(1, 6):
        entry.sent(
            req_id, "add_order", _dispatch(_place(f"o{req_id}")), now=float(req_id), sent_at=0
        )
    entry.answer(3, _answer("add_order", 1))  # answered: no longer waiting
    assert entry.next_deadline() == 7.0
    assert [item.req_id for item in entry.expired(8.5)] == [2, 3]
    # A clock set back: a later request's deadline is earlier than those still waiting.
    entry.sent(9, "add_order", _dispatch(_place("o9")), now=0.5, sent_at=0)
    assert entry.next_deadline() == 5.5
    assert [item.req_id for item in entry.expired(9.0)] == [4, 9]
    assert [item.req_id for item in entry.expired(10.0)] == [5]
    assert entry.next_deadline() is None
