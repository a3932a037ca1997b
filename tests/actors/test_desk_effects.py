"""DeskEffects, the supervisor's hands: how exchange updates reach the orders."""

from __future__ import annotations

from gal_exec.actors import protocol as p
from gal_exec.actors.desk_effects import DeskEffects
from gal_exec.actors.order_actor import OrderDeps
from gal_exec.core import desk as dk
from gal_exec.core.updates import ExchangeStatus, OrderUpdate, UpdateSource


def update(cl_ord_id: str, status: ExchangeStatus) -> OrderUpdate:
    return OrderUpdate(source=UpdateSource.STREAM, cl_ord_id=cl_ord_id, status=status)


def test_the_updates_of_one_message_reach_each_order_together_and_in_order(
    make_recorder, clock, timers
):
    """One message per order for what a burst of the stream brought it; a command the Desk
    decided after an update still comes after it."""
    gateway, sink, supervisor = make_recorder(), make_recorder(), make_recorder()
    deps = OrderDeps(
        gateway=gateway.ref, sink=sink.ref, supervisor=supervisor.ref, timers=timers, clock=clock
    )
    effects = DeskEffects(deps, writer=None, pool_size=0, idle=lambda: True)
    first, second = make_recorder(), make_recorder()
    effects.refs.update({"g-1": first.ref, "g-2": second.ref})
    opened, canceled = update("g-1", ExchangeStatus.OPEN), update("g-1", ExchangeStatus.CANCELED)
    lone, later = update("g-2", ExchangeStatus.OPEN), update("g-2", ExchangeStatus.CANCELED)
    for effect in (
        dk.Tell(cl_ord_id="g-1", message=opened),
        dk.Tell(cl_ord_id="g-2", message=lone),
        dk.Tell(cl_ord_id="g-1", message=canceled),
    ):
        effects.do(effect)
    assert first.pending() == [] and second.pending() == []  # gathered until flush
    effects.flush()
    assert first.pending() == [p.OrderUpdates(updates=(opened, canceled))]
    assert second.pending() == [lone]
    effects.flush()  # nothing gathered: nothing told
    assert first.pending() == [] and second.pending() == []
    # any other effect tells what was gathered first
    effects.do(dk.Tell(cl_ord_id="g-2", message=later))
    effects.do(dk.Tell(cl_ord_id="g-2", message=dk.CancelOrder(reason="operator")))
    assert second.pending() == [later, dk.CancelOrder(reason="operator")]
