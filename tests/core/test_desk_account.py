"""The desk's account: positions from fills, the position limit at intake, balances fetched at
start and after a reconnect; and its checks of an operator's amend."""

from __future__ import annotations

from decimal import Decimal

from gal_exec.core import desk as dk
from gal_exec.core.amend import Figures
from gal_exec.core.clock import ManualClock
from gal_exec.core.market import Quote
from gal_exec.core.positions import AssetBalance
from gal_exec.core.risk import RiskLimits
from gal_exec.messages import AmendSignal, BatchSubmit, ExecutionReport, TradeSignalApproved
from tests.test_desk_properties import World, pairs

D = Decimal


def desk(**risk) -> dk.Desk:
    limits = RiskLimits(quantize=False, **risk)
    settings = dk.DeskSettings(max_live_orders=2, risk=limits)
    made = dk.Desk(settings, pairs=pairs, clock=ManualClock())
    made.restore({})
    return made


def signal(
    signal_id: str, side: str = "buy", quantity: str = "1.0", **extra
) -> TradeSignalApproved:
    fields = dict(
        signal_id=signal_id,
        pair="XBT/USD",
        side=side,
        order_type="limit",
        quantity=D(quantity),
        limit_price=D("60000.0"),
    )
    fields.update(extra)
    return TradeSignalApproved(**fields)


def rejections(effects: list[dk.DeskEffect]) -> list[str]:
    return [e.reason for e in effects if isinstance(e, dk.Reject)]


def filled(cl_ord_id: str, side: str, quantity: str, total: str, trade: str) -> ExecutionReport:
    return ExecutionReport(
        signal_id="x",
        client_order_id=cl_ord_id,
        pair="XBT/USD",
        side=side,
        status="partially_filled",
        quantity=D("1.0"),
        filled_quantity=D(total),
        last_fill_quantity=D(quantity),
        last_fill_price=D("60000.0"),
        trade_id=trade,
        fee=D(0),
        sequence=2,
    )


def entry_of(made: dk.Desk, signal_id: str) -> str:
    return made.by_signal[signal_id][0]


def test_the_position_limit_weighs_the_position_and_the_working_entries() -> None:
    made = desk(max_position_per_pair=D("2.5"))
    assert rejections(made.signal(signal("a", quantity="1.5"))) == []
    a = entry_of(made, "a")
    made.fill_reported(filled(a, "buy", "0.5", "0.5", "T1"))
    # position 0.5 + open buys 1.0 + 1.0 = 2.5: at the limit, allowed
    assert rejections(made.signal(signal("b", quantity="1.0"))) == []
    (reason,) = rejections(made.signal(signal("c", quantity="0.1")))
    assert reason == (
        "position limit: XBT/USD position 0.5 + open buys 2 + this buy 0.1 = 2.6 exceeds 2.5"
    )
    # a sell reduces the position: only the short side is weighed
    assert rejections(made.signal(signal("d", side="sell", quantity="3.0"))) == []
    (reason,) = rejections(made.signal(signal("e", side="sell", quantity="0.1")))
    assert "position 0.5 - open sells 3 - this sell 0.1 = -2.6 exceeds -2.5" in reason
    # a finished entry no longer counts as working
    made.finished(a, D("0.5"))
    assert made.working.quantity("XBT/USD", "buy") == D("1.0")
    assert made.account().positions["XBT/USD"].quantity == D("0.5")


def test_a_batch_weighs_its_own_signals_against_the_position_limit() -> None:
    made = desk(max_position_per_pair=D("1.5"))
    batch = BatchSubmit(
        batch_id="b",
        mode="best_effort",
        signals=[signal("b1"), signal("b2"), signal("b3", quantity="0.5")],
    )
    effects = made.batch(batch)
    (reason,) = rejections(effects)
    assert reason.startswith("position limit: XBT/USD position 0 + open buys 1 + this buy 1")
    assert made.working.quantity("XBT/USD", "buy") == D("1.5")


def test_balances_are_fetched_at_start_and_after_a_reconnect() -> None:
    made = dk.Desk(dk.DeskSettings(), pairs=pairs, clock=ManualClock())
    assert dk.FetchBalances() in made.restore({})
    assert dk.FetchBalances() not in made.stream(True, gap=False)  # the first connection
    made.stream(False, gap=False)
    assert dk.FetchBalances() in made.stream(True, gap=True)
    made.balances_fetched({"ZUSD": AssetBalance(total=D(5), hold=D(1), available=D(4))}, 7.0)
    account = made.health().account
    assert account.balances["ZUSD"].available == D(4) and account.balances_at == 7.0
    made.balances_failed("EService:Busy")
    assert made.account().balances_error == "EService:Busy"
    assert made.account().balances["ZUSD"].total == D(5)  # the last good ones stay


def test_the_desk_refuses_what_it_can_see_is_wrong_with_an_amend() -> None:
    made = desk()
    made.signal(signal("a"))
    made.signal(signal("b"))
    made.signal(signal("queued"))  # behind max_live_orders = 2
    a = entry_of(made, "a")
    cases = [
        (AmendSignal(signal_id="a", client_order_id=a, quantity=D("2")), "one of them"),
        (AmendSignal(signal_id="nope", quantity=D("2")), "no order of signal_id 'nope'"),
        (AmendSignal(client_order_id="g-nope", quantity=D("2")), "no order 'g-nope' is known"),
        (AmendSignal(signal_id="queued", quantity=D("2")), "is not sent yet"),
        (AmendSignal(signal_id="a", quantity=D("0.00001")), "ordermin"),
        (AmendSignal(signal_id="a", quantity=D("1.005")), "lot step"),
        (AmendSignal(signal_id="a", quantity=D("-1")), "quantity must be a positive number"),
        (AmendSignal(signal_id="a", limit_price=D("NaN")), "limit_price must be a finite number"),
        (AmendSignal(signal_id="a", quantity=D("1E+999999999")), "quantity out of range"),
        (AmendSignal(signal_id="a", limit_price=D("1E-999999999")), "limit_price out of range"),
        (AmendSignal(signal_id="a", trigger_price=D("59000.0")), "a limit order has no trigger"),
        (AmendSignal(signal_id="a", quantity=D("1.0")), "nothing to change"),
    ]
    for message, why in cases:
        (reason,) = rejections(made.amend(message))
        assert why in reason, (why, reason)
    effects = made.amend(AmendSignal(signal_id="a", quantity=D("2.0")))
    (tell,) = [e for e in effects if isinstance(e, dk.Tell)]
    assert tell.cl_ord_id == a and isinstance(tell.message, dk.AmendOrder)
    assert tell.message.change.quantity == D("2.0")


def test_an_amend_is_held_to_the_risk_limits_and_the_halt() -> None:
    made = desk(max_position_per_pair=D("2"), max_exposure_per_pair=D("100000"))
    made.signal(signal("a"))
    (reason,) = rejections(made.amend(AmendSignal(signal_id="a", quantity=D("2.5"))))
    # Its own working quantity (1.0) is set aside: the amended order is weighed whole.
    assert "position limit: XBT/USD position 0 + open buys 0 + this buy 2.5 = 2.5 exceeds 2" in (
        reason
    )
    (reason,) = rejections(made.amend(AmendSignal(signal_id="a", quantity=D("1.8"))))
    assert reason.endswith("exceeds 100000")  # 1.8 x 60000: the order's own exposure set aside
    assert rejections(made.amend(AmendSignal(signal_id="a", quantity=D("1.6")))) == []
    made.halt("risk", cancel_open=False)
    (reason,) = rejections(made.amend(AmendSignal(signal_id="a", quantity=D("1.2"))))
    assert "halted: risk; an amend may not add quantity" in reason
    assert rejections(made.amend(AmendSignal(signal_id="a", quantity=D("0.5")))) == []


def test_a_moved_stop_is_the_level_of_later_protection() -> None:
    world = World(ManualClock())
    world.desk_effects(world.desk.signal(signal("s", sl_price=D("50000.0"), tp_price=D("70000.0"))))
    entry = entry_of(world.desk, "s")
    world.fill(world.running[entry], D("0.4"))
    stop = next(cl for cl, model in world.running.items() if model.spec.role == "stop_loss")
    effects = world.desk.amend(AmendSignal(client_order_id=stop, trigger_price=D("70000.0")))
    (reason,) = rejections(effects)
    assert "the stop-loss 70000.0 must stay below the take-profit 70000.0" in reason
    world.desk_effects(
        world.desk.amend(AmendSignal(client_order_id=stop, trigger_price=D("55000.0")))
    )
    world.answer_amend(world.inflight.pop(stop), "ok")
    assert world.running[stop].trigger_price == D("55000.0")
    assert world.desk.orders[entry].spec.sl_price == D("55000.0")
    assert world.specs[entry].sl_price == D("55000.0")  # journaled (JournalLevels)
    assert world.desk.orders[stop].figures == Figures(quantity=D("0.4"), trigger_price=D("55000.0"))
    # The market takes the stop's part; the entry fills more: a new generation at 55000.
    world.fill(world.running[stop], D("0.4"))
    world.fill(world.running[entry], D("0.3"))
    later = [
        model
        for model in world.running.values()
        if model.spec.role == "stop_loss" and not model.terminal
    ]
    assert [m.trigger_price for m in later] == [D("55000.0")]


def test_a_childs_trigger_may_not_fire_at_once() -> None:
    world = World(ManualClock())
    now = world.clock.time()
    quote = Quote(pair="BTC/USD", last=D("60000.0"), time=now, checked_at=now)
    world.desk.quote(quote)
    world.desk_effects(world.desk.signal(signal("s", sl_price=D("50000.0"))))
    entry = entry_of(world.desk, "s")
    world.fill(world.running[entry], D("1.0"))
    stop = next(cl for cl, model in world.running.items() if model.spec.role == "stop_loss")
    (reason,) = rejections(
        world.desk.amend(AmendSignal(client_order_id=stop, trigger_price=D("60500.0")))
    )
    assert "stop_loss trigger 60500.0 would fire at once: it must be below the last price" in reason
    assert world.desk.orders[stop].figures.trigger_price == D("50000.0")
