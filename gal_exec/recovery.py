"""Start-up recovery: what the journal says was live, turned into messages for the supervisor.

``load_recovery`` runs on the journal's writer thread and reads every order; ``recovery_messages``
turns that into RestoreOrder, BracketState and Protect messages: every order that was not
terminal is respawned (children with their entry's position, their generation and what their
sibling closed), and every filled entry gets the protection it lacks.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import msgspec

from gal_exec.actors import protocol as p
from gal_exec.actors.supervisor import BracketState, CompleteGeneration, RestoreOrder
from gal_exec.core import order as om
from gal_exec.core.ids import child_generation
from gal_exec.core.vocabulary import OrderStatus
from gal_exec.journal import Journal, OrderRecord, ledger_fills
from gal_exec.kraken.pairs import PairRegistry

__all__ = ["RecoveryPlan", "load_recovery", "recovery_messages"]

log = logging.getLogger("gal_exec.engine")


class _LiveOrder(msgspec.Struct, frozen=True, kw_only=True):
    record: OrderRecord
    fills: list[Any]
    parent: OrderRecord | None = None
    sibling: OrderRecord | None = None
    generation: int = 1
    closed_before: Decimal = Decimal(0)


class _Bracket(msgspec.Struct, frozen=True, kw_only=True):
    """A filled entry with protection: the newest generation of its children and what all of
    them closed (``live`` if that generation still has an order working)."""

    entry: OrderRecord
    fills: list[Any]
    generation: int
    closed: Decimal
    last_closed: Decimal
    live: bool
    missing: tuple[str, ...] = ()  # roles of the newest generation never journaled


class RecoveryPlan(msgspec.Struct, kw_only=True):
    live: list[_LiveOrder] = msgspec.field(default_factory=list)
    brackets: list[_Bracket] = msgspec.field(default_factory=list)


def load_recovery(journal: Journal) -> tuple[set[str], RecoveryPlan]:
    """What start-up needs from the journal (read on the writer thread).

    Seen signals are those with an order: a signal journaled without its intent (a kill between
    the two commits) never reached the exchange and may be placed again. Every filled entry with
    stop-loss / take-profit prices is listed with the state of its protection, so protection that
    was never placed (a kill between the fill and the children's intents) or that must be
    succeeded by a new generation is placed at start.
    """
    everything = journal.orders()
    by_id = {record.cl_ord_id: record for record in everything}
    children: dict[str, list[tuple[int, OrderRecord]]] = {}
    for record in everything:
        if record.parent_cl_ord_id is not None:
            found = child_generation(record.parent_cl_ord_id, record.cl_ord_id)
            generation = found[1] if found else 1
            children.setdefault(record.parent_cl_ord_id, []).append((generation, record))
    plan = RecoveryPlan()
    for record in everything:
        if record.role == "entry":
            if record.filled_quantity > 0 and (
                record.sl_price is not None or record.tp_price is not None
            ):
                plan.brackets.append(_bracket(record, journal, children.get(record.cl_ord_id, [])))
            if record.is_terminal:
                continue
        elif record.is_terminal:
            continue
        parent = sibling = None
        generation, closed_before = 1, Decimal(0)
        if record.parent_cl_ord_id is not None:
            parent = by_id.get(record.parent_cl_ord_id)
            family = children.get(record.parent_cl_ord_id, [])
            generation = next(g for g, child in family if child.cl_ord_id == record.cl_ord_id)
            closed_before = sum(
                (child.filled_quantity for g, child in family if g < generation), Decimal(0)
            )
            siblings = [
                child
                for g, child in family
                if g == generation and child.cl_ord_id != record.cl_ord_id
            ]
            sibling = siblings[0] if siblings else None
        plan.live.append(
            _LiveOrder(
                record=record,
                fills=journal.fills(record.cl_ord_id),
                parent=parent,
                sibling=sibling,
                generation=generation,
                closed_before=closed_before,
            )
        )
    seen = {record.signal_id for record in everything}
    return seen, plan


def _bracket(
    entry: OrderRecord, journal: Journal, family: list[tuple[int, OrderRecord]]
) -> _Bracket:
    newest = max((g for g, _ in family), default=0)
    wanted = {"stop_loss"} if entry.sl_price is not None else set()
    if entry.tp_price is not None:
        wanted.add("take_profit")
    present = {child.role for g, child in family if g == newest}
    return _Bracket(
        missing=tuple(sorted(wanted - present)) if newest else (),
        entry=entry,
        fills=journal.fills(entry.cl_ord_id) if entry.is_terminal else [],
        generation=newest,
        closed=sum((child.filled_quantity for _, child in family), Decimal(0)),
        last_closed=sum((child.filled_quantity for g, child in family if g == newest), Decimal(0)),
        live=any(g == newest and not child.is_terminal for g, child in family),
    )


def recovery_messages(plan: RecoveryPlan, pairs: PairRegistry, now: float) -> list[Any]:
    """Respawn every order that was not terminal, and complete the protection of every
    filled entry.

    A protective child learns the position it covers from its entry (whatever the entry's
    state) less what earlier generations closed, whether the entry is finished, and what its
    OCO sibling has already closed.
    """
    messages: list[Any] = []
    for item in plan.live:
        record = item.record
        spec = _spec(record, pairs, now)
        if spec is None:
            continue
        position = None
        entry_final = False
        if record.parent_cl_ord_id is not None:
            parent = item.parent
            filled = parent.filled_quantity if parent is not None else record.quantity
            position = filled - item.closed_before
            entry_final = parent is None or parent.is_terminal
        sibling = item.sibling
        messages.append(
            RestoreOrder(
                spec=spec,
                state=OrderStatus(record.status),
                txid=record.txid,
                fills=ledger_fills(record, item.fills),
                sequence=record.last_sequence or 0,
                position=position,
                entry_final=entry_final,
                sibling_filled=(
                    sibling.filled_quantity
                    if sibling is not None and sibling.is_terminal
                    else Decimal(0)
                ),
                generation=item.generation,
                closed_before=item.closed_before,
            )
        )
    for bracket in plan.brackets:
        entry = bracket.entry
        spec = _spec(entry, pairs, now)
        if spec is None:
            continue
        finished_generation = bracket.generation and not bracket.live
        if bracket.live and bracket.missing:
            # The engine died between the two children's intents: place the one never journaled.
            if entry.is_terminal:
                messages.append(
                    RestoreOrder(
                        spec=spec,
                        state=OrderStatus(entry.status),
                        txid=entry.txid,
                        fills=ledger_fills(entry, bracket.fills),
                        sequence=entry.last_sequence or 0,
                    )
                )
            messages.append(
                CompleteGeneration(
                    parent_cl_ord_id=entry.cl_ord_id,
                    generation=bracket.generation,
                    roles=bracket.missing,
                    closed_before=bracket.closed - bracket.last_closed,
                    entry_filled=entry.filled_quantity,
                    entry_final=entry.is_terminal,
                )
            )
        if entry.is_terminal:
            if (
                bracket.live
                or (bracket.generation and bracket.closed >= entry.filled_quantity)
                or (finished_generation and bracket.last_closed <= 0)
            ):
                continue  # protection working, position closed, or protection cancelled
            messages.append(
                RestoreOrder(
                    spec=spec,
                    state=OrderStatus(entry.status),
                    txid=entry.txid,
                    fills=ledger_fills(entry, bracket.fills),
                    sequence=entry.last_sequence or 0,
                )
            )
        if finished_generation:
            messages.append(
                BracketState(
                    parent_cl_ord_id=entry.cl_ord_id,
                    generation=bracket.generation,
                    closed=bracket.closed,
                    # A generation that closed nothing was cancelled: do not place it again.
                    cancelled=bracket.last_closed <= 0,
                )
            )
        messages.append(
            p.Protect(
                parent_cl_ord_id=entry.cl_ord_id,
                filled_quantity=entry.filled_quantity,
                final=entry.is_terminal,
            )
        )
    return messages


def _spec(record: OrderRecord, pairs: PairRegistry, now: float) -> om.OrderSpec | None:
    rules = pairs.get(record.pair)
    if rules is None:
        log.error("journal order %s has unknown pair %r", record.cl_ord_id, record.pair)
        return None
    return om.OrderSpec(
        cl_ord_id=record.cl_ord_id,
        signal_id=record.signal_id,
        role=record.role,
        parent_cl_ord_id=record.parent_cl_ord_id,
        pair=rules.wsname,
        symbol=rules.altname,
        price_decimals=rules.pair_decimals,
        side=record.side,
        order_type=record.order_type,
        quantity=record.quantity,
        limit_price=record.limit_price,
        trigger_price=record.trigger_price,
        time_in_force=record.time_in_force,
        expire_at=record.expire_at,
        post_only=record.post_only,
        reduce_only=record.reduce_only,
        timeout_s=record.remaining_timeout(now),
        sl_price=record.sl_price,
        tp_price=record.tp_price,
    )
