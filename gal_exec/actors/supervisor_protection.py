"""The supervisor's protective children: spawning, growing and succeeding SL / TP pairs (OCO).

A mixin of ExecutionSupervisor, kept apart because it is one concern: turning an entry's fills
into stop-loss / take-profit OrderActors, linked as an OCO pair, generation after generation
(gal_exec.core.bracket decides; this carries it out).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gal_exec.actors import protocol as p
from gal_exec.core import order as om
from gal_exec.core.bracket import BracketBook, Forward, Spawn
from gal_exec.core.ids import child_client_order_id, generation_tag
from gal_exec.core.vocabulary import Role

__all__ = ["Protection"]

_ROLES = (
    (Role.STOP_LOSS, "sl", "stop-loss"),
    (Role.TAKE_PROFIT, "tp", "take-profit"),
)


class Protection:
    """Mixed into ExecutionSupervisor (uses its orders, by_signal, _spawn)."""

    brackets: BracketBook
    orders: dict[str, Any]
    by_signal: dict[str, list[str]]
    restored_pairs: dict[tuple[str, int], list[str]]

    def _protect(self, message: p.Protect) -> None:
        if message.parent_cl_ord_id not in self.orders:
            return
        decision = self.brackets.position(
            message.parent_cl_ord_id, message.filled_quantity, message.final
        )
        self._carry_out(decision)

    def _child_finished(self, child: om.OrderSpec, filled: Decimal) -> None:
        if child.parent_cl_ord_id is None:
            return
        decision = self.brackets.finished(child.parent_cl_ord_id, child.cl_ord_id, filled)
        self._carry_out(decision)

    def _carry_out(self, decision: Spawn | Forward | None) -> None:
        if isinstance(decision, Spawn):
            self._spawn_generation(decision)
        elif isinstance(decision, Forward):
            for child_id in decision.children:
                entry = self.orders.get(child_id)
                if entry is not None and entry.ref is not None and not entry.finished:
                    entry.ref.tell(
                        p.SetPosition(filled_quantity=decision.position, final=decision.final)
                    )

    def _spawn_generation(self, spawn: Spawn) -> None:
        parent = self.orders[spawn.parent].spec
        started = self._start_children(
            parent, spawn.generation, ("stop_loss", "take_profit"), spawn.position, spawn.final
        )
        self.brackets.spawned(parent.cl_ord_id, spawn.generation, started)
        self._link([self.orders[c].ref for c in started])

    def _complete_generation(self, message: Any) -> None:
        """Place the children of a generation that were never journaled (see recovery)."""
        parent_entry = self.orders.get(message.parent_cl_ord_id)
        if parent_entry is None:
            return
        position = message.entry_filled - message.closed_before
        started = self._start_children(
            parent_entry.spec, message.generation, message.roles, position, message.entry_final
        )
        for child_id in started:
            self._restored_child(
                self.orders[child_id].spec, message.generation, message.closed_before, Decimal(0)
            )

    def _start_children(
        self,
        parent: om.OrderSpec,
        generation: int,
        roles: tuple[str, ...],
        position: Decimal,
        final: bool,
    ) -> list[str]:
        opposite = "sell" if parent.side == "buy" else "buy"
        started = []
        for role, tag, kind in _ROLES:
            price = parent.sl_price if tag == "sl" else parent.tp_price
            if price is None or role not in roles:
                continue
            child = om.OrderSpec(
                cl_ord_id=child_client_order_id(parent.cl_ord_id, generation_tag(role, generation)),
                signal_id=parent.signal_id,
                role=role,
                parent_cl_ord_id=parent.cl_ord_id,
                pair=parent.pair,
                symbol=parent.symbol,
                price_decimals=parent.price_decimals,
                side=opposite,
                order_type=kind,
                quantity=position,
                trigger_price=price,
            )
            self.by_signal.setdefault(parent.signal_id, []).append(child.cl_ord_id)
            self._spawn(child, {"position": position, "entry_final": final})
            started.append(child.cl_ord_id)
        return started

    def _restored_child(
        self,
        spec: om.OrderSpec,
        generation: int,
        closed_before: Decimal,
        sibling_closed: Decimal,
    ) -> None:
        """Re-register a respawned child and link it to its sibling once both are back."""
        assert spec.parent_cl_ord_id is not None
        self.brackets.restored(
            spec.parent_cl_ord_id, generation, spec.cl_ord_id, closed_before, sibling_closed
        )
        pair = self.restored_pairs.setdefault((spec.parent_cl_ord_id, generation), [])
        pair.append(spec.cl_ord_id)
        if len(pair) == 2:
            self._link([self.orders[c].ref for c in pair if c in self.orders])

    @staticmethod
    def _link(refs: list[Any]) -> None:
        if len(refs) == 2 and all(ref is not None for ref in refs):
            refs[0].tell(p.Link(sibling=refs[1]))
            refs[1].tell(p.Link(sibling=refs[0]))

    def _spawn(self, spec: om.OrderSpec, options: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError
