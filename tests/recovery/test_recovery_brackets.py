"""Crash points of brackets found by the random kills, replayed deterministically.

Each process test drives a real engine process against the simulator process into one precise
state (a fault plan holds the right request, the control API moves the market), SIGKILLs it
there, restarts it on the same journal and checks the outcome against the simulator's books.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest
from checks import collect, problems
from harness import EngineProcess, SimProcess, wait_until
from scenario import write_signals
from steps import (
    ETH_BASE,
    RUN_TIMEOUT_S,
    XBT_BASE,
    far_bracket,
    forget_children,
    forget_orders,
    orders_by_type,
    reported,
    reported_fill,
    set_faults,
    set_price,
    signal,
)

from gal_exec.core import order as om
from gal_exec.core.vocabulary import OrderStatus
from gal_exec.journal import Journal
from gal_exec.messages import ExecutionReport

CHILDREN = ("stop-loss", "take-profit")
_SIBLING_BUG = (
    "Engine._recover (gal_exec/engine.py) restores a live bracket child with position = its own "
    "journaled intent quantity whenever its entry is already terminal (``records`` holds live "
    "orders only), never tells it the entry's final filled quantity (no SetPosition(final=True)) "
    "and never tells it what a terminal sibling filled (RestoreOrder.sibling_filled stays 0; the "
    "terminal sibling is neither restored nor linked)"
)


def _eth_bracket(signal_id: str) -> dict[str, object]:
    """A marketable ETH limit buy of 0.5 that fills in steps, with far stop-loss/take-profit."""
    return signal(
        signal_id,
        pair="ETHUSD",
        order_type="limit",
        quantity="0.5",
        limit_price=str(ETH_BASE * Decimal("1.01")),
        timeout_s=60,
        **far_bracket(ETH_BASE, "0.01"),
    )


@pytest.mark.timeout(60)
def test_child_placed_late_is_cancelled_when_its_sibling_closed_the_position(
    tmp_path: Path,
) -> None:
    """One child of a bracket fills while the other's AddOrder is still in flight; the engine is
    killed before that placement is answered. After the restart the late child is live at the
    exchange but the position is already closed: it must be cancelled, not left to fill."""
    signals = [signal("late-child", **far_bracket(XBT_BASE, "0.1"))]
    signals_path = tmp_path / "signals.jsonl"
    write_signals(signals_path, signals)
    with SimProcess(tmp_path, seed=21, rate_limits=False) as sim:
        set_price(sim, "XBTUSD", XBT_BASE)
        # Hold the third AddOrder: the entry's, one child's, then the other child's.
        set_faults(sim, {"endpoint": "AddOrder", "kind": "latency", "delay_s": 3.0, "skip": 2})
        engine = EngineProcess(
            tmp_path, sim, signals_path, settings={"engine": {"coalesce_batches": False}}
        )
        try:
            engine.start()
            assert wait_until(lambda: len(sim.orders()) == 2, 10), sim.orders()
            placed = next(o for o in sim.orders() if o["ordertype"] != "market")
            on_book_is_stop = placed["ordertype"] == "stop-loss"
            late_type = "take-profit" if on_book_is_stop else "stop-loss"
            # Trigger the child on the book; the late one is on the other side of the market.
            set_price(sim, "XBTUSD", XBT_BASE * Decimal("0.965" if on_book_is_stop else "1.035"))
            role = "stop_loss" if on_book_is_stop else "take_profit"
            assert wait_until(lambda: reported(engine, role, "filled"), 5)
            engine.kill()
            killed_at = time.time()
            set_faults(sim)
            assert wait_until(lambda: late_type in orders_by_type(sim), 5), sim.orders()
            assert orders_by_type(sim)[late_type]["opentm"] >= killed_at - 0.1
            failure = engine.run_to_end(RUN_TIMEOUT_S)
            evidence = collect(signals, sim, engine.journal, engine.reports)
        finally:
            engine.kill()
    late = next(o for o in evidence.sim_orders if o["ordertype"] == late_type)
    found = ([failure] if failure else []) + problems(evidence)
    assert late["status"] == "canceled" and Decimal(late["vol_exec"]) == 0, found
    assert not found, "\n".join(found)


@pytest.mark.timeout(60)
def test_children_cover_the_whole_entry_after_a_restart_lost_their_resize(
    tmp_path: Path,
) -> None:
    """A limit entry fills in steps; its children are placed at the first fill and resized as it
    grows. The engine is killed after the entry filled completely but before the resize reached
    the exchange. After the restart the children must be resized to the entry's whole fill."""
    signals = [_eth_bracket("lost-resize")]
    signals_path = tmp_path / "signals.jsonl"
    write_signals(signals_path, signals)
    with SimProcess(tmp_path, seed=22, rate_limits=False) as sim:
        set_price(sim, "ETHUSD", ETH_BASE)
        sim.control("POST", "liquidity", {"pair": "ETHUSD", "per_step": "0.1"})
        set_faults(sim, {"endpoint": "AmendOrder", "kind": "latency", "delay_s": 3.0})
        engine = EngineProcess(tmp_path, sim, signals_path)
        try:
            engine.start()
            assert wait_until(lambda: reported(engine, "entry", "filled"), 10)
            engine.kill()
            set_faults(sim)

            def resized(quantity: Decimal, *, every: bool) -> bool:
                books = orders_by_type(sim)
                sizes = [Decimal(books[kind]["vol"]) for kind in CHILDREN]
                return all(size == quantity for size in sizes) if every else max(sizes) > quantity

            # The one resize that left (to the second fill's position) lands after the kill.
            assert wait_until(lambda: resized(Decimal("0.1"), every=False), 5), sim.orders()
            engine.start()
            wait_until(lambda: resized(Decimal("0.5"), every=True), 5)  # judged below
            set_price(sim, "ETHUSD", ETH_BASE * Decimal("1.035"))  # the take-profit closes it
            failure = engine.wait_for_end(RUN_TIMEOUT_S)
            evidence = collect(signals, sim, engine.journal, engine.reports)
        finally:
            engine.kill()
    found = ([failure] if failure else []) + problems(evidence)
    assert not found, "\n".join(found)


@pytest.mark.timeout(60)
def test_amended_child_is_followed_to_its_amended_quantity_after_a_restart(
    tmp_path: Path,
) -> None:
    """A child resized from 0.1 to 0.5 partly fills (0.2) while the engine is dead. The
    restarted engine must resize the other child to the rest of the position (0.3) and follow
    the take-profit to its end."""
    signals = [_eth_bracket("amended-child")]
    signals_path = tmp_path / "signals.jsonl"
    write_signals(signals_path, signals)
    with SimProcess(tmp_path, seed=25, rate_limits=False) as sim:
        set_price(sim, "ETHUSD", ETH_BASE)
        sim.control("POST", "liquidity", {"pair": "ETHUSD", "per_step": "0.1"})
        engine = EngineProcess(tmp_path, sim, signals_path)
        try:
            engine.start()
            assert wait_until(
                lambda: (
                    reported(engine, "entry", "filled")
                    and reported(engine, "take_profit", "open")
                    and all(
                        Decimal(orders_by_type(sim)[kind]["vol"]) == Decimal("0.5")
                        for kind in CHILDREN
                    )
                ),
                10,
            ), sim.orders()
            engine.kill()
            sim.control("POST", "liquidity", {"pair": "ETHUSD", "per_step": "0.2"})
            set_price(sim, "ETHUSD", ETH_BASE * Decimal("1.035"))  # the take-profit takes 0.2
            sim.control("POST", "pause", {"paused": True})
            take_profit = orders_by_type(sim)["take-profit"]
            assert Decimal("0.1") < Decimal(take_profit["vol_exec"]) < Decimal("0.5"), take_profit
            rest = Decimal("0.5") - Decimal(take_profit["vol_exec"])
            engine.start()
            # The restarted engine learns the partial fill before the market moves on.
            assert wait_until(lambda: reported_fill(engine, "take_profit"), 5)

            def stop_loss_covers_the_rest() -> bool:
                stop_loss = orders_by_type(sim)["stop-loss"]
                return stop_loss["status"] == "open" and Decimal(stop_loss["vol"]) == rest

            covered = wait_until(stop_loss_covers_the_rest, 5)
            stop_loss = orders_by_type(sim)["stop-loss"]
            failure = None
            if covered and engine.process is not None and engine.process.poll() is None:
                sim.control("POST", "pause", {"paused": False})
                failure = engine.wait_for_end(RUN_TIMEOUT_S)
            # Otherwise judged on the paused market as the engine left it.
            evidence = collect(signals, sim, engine.journal, engine.reports)
        finally:
            engine.kill()
    found = ([failure] if failure else []) + problems(evidence)
    if not covered:
        found.insert(0, f"the stop-loss does not cover the open {rest}: {stop_loss}")
    assert not found, "\n".join(found)


def test_unplaced_child_finishes_when_its_sibling_closed_the_position_during_resolution() -> None:
    """The engine restarts with both children of a filled entry unresolved; the stop-loss is
    re-sent and fills before the take-profit's look-up ends. The take-profit must finish."""
    spec = om.OrderSpec(
        cl_ord_id="entry00000000000-tp",
        signal_id="s",
        role="take_profit",
        parent_cl_ord_id="entry00000000000",
        pair="XBT/USD",
        symbol="XBTUSD",
        side="sell",
        order_type="take-profit",
        quantity=Decimal("0.01"),
        trigger_price=Decimal("66950.0"),
    )
    model = om.OrderModel(spec, om.OrderSettings(resolve_attempts=1))
    model.protect(Decimal("0.01"))
    for sequence, status in enumerate(("pending_submit", "submitted"), start=1):
        model.replay(
            ExecutionReport(
                signal_id="s",
                client_order_id=spec.cl_ord_id,
                quantity=Decimal("0.01"),
                status=status,
                sequence=sequence,
            )
        )
    effects = model.resume(now=0.0)
    assert any(isinstance(effect, om.Lookup) for effect in effects)
    model.set_sibling_filled(Decimal("0.01"))
    effects = model.lookup_result(None, now=1.0)
    assert not any(isinstance(effect, om.Place) for effect in effects)
    assert model.terminal, f"left in {model.state.value} with effects {effects}"
    assert model.state is OrderStatus.CANCELED


@pytest.mark.timeout(60)
def test_filled_entry_whose_children_were_never_journaled_gets_them_after_restart(
    tmp_path: Path,
) -> None:
    """The engine dies after journaling the entry's fill and before its children's intents
    (the journal and reports file are cut back to that point). The restart must place the
    protection, and report nothing twice."""
    signals = [signal("orphan-entry", **far_bracket(XBT_BASE, "0.1"))]
    signals_path = tmp_path / "signals.jsonl"
    write_signals(signals_path, signals)
    with SimProcess(tmp_path, seed=26, rate_limits=False) as sim:
        set_price(sim, "XBTUSD", XBT_BASE)
        # The children are refused (not placed), so the exchange holds only the entry.
        refuse = {"endpoint": "AddOrder", "kind": "error", "message": "EOrder:Insufficient funds"}
        set_faults(sim, {**refuse, "skip": 1})
        engine = EngineProcess(
            tmp_path, sim, signals_path, settings={"engine": {"coalesce_batches": False}}
        )
        try:
            assert engine.run_to_end(RUN_TIMEOUT_S) is None
            set_faults(sim)
            entry = next(o for o in sim.orders() if o["ordertype"] == "market")
            forget_children(engine, entry["cl_ord_id"])
            engine.start()
            assert wait_until(lambda: len(sim.orders()) == 3, 5), sim.orders()
            set_price(sim, "XBTUSD", XBT_BASE * Decimal("1.035"))  # the take-profit closes it
            failure = engine.wait_for_end(RUN_TIMEOUT_S)
            evidence = collect(signals, sim, engine.journal, engine.reports)
        finally:
            engine.kill()
    found = ([failure] if failure else []) + problems(evidence)
    assert not found, "\n".join(found)


def test_child_whose_sibling_was_never_journaled_gets_its_sibling_after_restart(
    tmp_path: Path,
) -> None:
    """The engine dies between the two children's intents: one child is journaled and working,
    the other never was (here: refused by the exchange, then cut from the journal). The restart
    must place the missing one in the same generation, linked as the working one's OCO sibling."""
    signals = [signal("half-bracket", **far_bracket(XBT_BASE, "0.1"))]
    signals_path = tmp_path / "signals.jsonl"
    write_signals(signals_path, signals)
    with SimProcess(tmp_path, seed=27, rate_limits=False) as sim:
        set_price(sim, "XBTUSD", XBT_BASE)
        refuse = {"endpoint": "AddOrder", "kind": "error", "message": "EOrder:Insufficient funds"}
        set_faults(sim, {**refuse, "skip": 2, "next": 1})  # the second child never gets in
        engine = EngineProcess(
            tmp_path, sim, signals_path, settings={"engine": {"coalesce_batches": False}}
        )
        try:
            engine.start()
            assert wait_until(
                lambda: (
                    reported(engine, "stop_loss", "rejected")
                    or reported(engine, "take_profit", "rejected")
                ),
                10,
            )
            engine.kill()
            set_faults(sim)
            on_exchange = {o["cl_ord_id"] for o in sim.orders()}
            journal = Journal.open(engine.journal, read_only=True)
            try:
                missing = [o.cl_ord_id for o in journal.orders() if o.cl_ord_id not in on_exchange]
            finally:
                journal.close()
            assert len(missing) == 1, missing
            forget_orders(engine, missing)
            engine.start()
            assert wait_until(lambda: len(sim.orders()) == 3, 10), sim.orders()
            set_price(sim, "XBTUSD", XBT_BASE * Decimal("1.035"))  # the take-profit closes it
            failure = engine.wait_for_end(RUN_TIMEOUT_S)
            evidence = collect(signals, sim, engine.journal, engine.reports)
        finally:
            engine.kill()
    found = ([failure] if failure else []) + problems(evidence)
    assert not found, "\n".join(found)
