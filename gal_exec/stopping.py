"""The stop policy, run apart from teardown so the engine can say what became of each open order.

``stop_trading`` notes the orders open at the moment of stopping (from the journal, after every
report so far is in it), applies the policy (cancel them, or leave them on the exchange), and
reads back what became of each: canceled, filled meanwhile, otherwise ended, or still open.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec

from gal_exec.messages import Halt

if TYPE_CHECKING:
    from gal_exec.engine import Engine

__all__ = ["StopOutcome", "stop_trading"]

log = logging.getLogger("gal_exec.engine")
_ASK_TIMEOUT_S = 5.0


class StopOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What became of the orders open when trading stopped.

    With the journal off, only the counts are known (``open_count``, ``left_open_count``) and
    the id tuples are empty.
    """

    cancel_open: bool
    open_count: int = 0
    canceled: tuple[str, ...] = ()
    filled: tuple[str, ...] = ()
    ended: tuple[tuple[str, str], ...] = ()  # (cl_ord_id, status): expired, rejected, validated
    left_open: tuple[str, ...] = ()
    left_open_count: int = 0


def stop_trading(engine: Engine, *, cancel_open: bool, timeout: float) -> StopOutcome:
    """Apply the stop policy to ``engine`` and report on the orders that were open."""
    before = _open_orders(engine)
    count_before = len(before) if before is not None else _live_count(engine)
    if cancel_open:
        try:
            engine.submit(Halt(reason="engine stopping", cancel_open=True))
            if not engine.wait_until_idle(timeout):
                log.warning("stopping with orders still open after %.0f s", timeout)
        except Exception as exc:  # a supervisor that no longer answers: say what is known
            log.error("cancelling the open orders failed: %s", exc)
    if before is None:
        left = _live_count(engine)
        return StopOutcome(cancel_open=cancel_open, open_count=count_before, left_open_count=left)
    after = _statuses(engine, list(before))
    canceled, filled, ended, left_open = [], [], [], []
    for cl_ord_id in before:
        status = after.get(cl_ord_id, before[cl_ord_id])
        if status == "canceled":
            canceled.append(cl_ord_id)
        elif status == "filled":
            filled.append(cl_ord_id)
        elif status in ("expired", "rejected", "validated"):
            ended.append((cl_ord_id, status))
        else:
            left_open.append(cl_ord_id)
    return StopOutcome(
        cancel_open=cancel_open,
        open_count=count_before,
        canceled=tuple(canceled),
        filled=tuple(filled),
        ended=tuple(ended),
        left_open=tuple(left_open),
        left_open_count=len(left_open),
    )


def _drained(engine: Engine) -> bool:
    """Every report told to the sink so far is committed to the journal."""
    writer = engine.writer
    if writer is None:
        return False
    try:
        engine.stats()
    except Exception:
        return False
    return writer.flush(timeout=_ASK_TIMEOUT_S)


def _open_orders(engine: Engine) -> dict[str, str] | None:
    """cl_ord_id -> status of every order the journal holds as not terminal; None without one."""
    if not _drained(engine):
        return None
    assert engine.writer is not None
    try:
        records = engine.writer.call(lambda journal: journal.live_orders(), timeout=_ASK_TIMEOUT_S)
    except Exception as exc:
        log.warning("cannot list the open orders from the journal: %s", exc)
        return None
    return {record.cl_ord_id: record.status for record in records}


def _statuses(engine: Engine, cl_ord_ids: list[str]) -> dict[str, str]:
    if not cl_ord_ids or not _drained(engine):
        return {}
    assert engine.writer is not None

    def read(journal: Any) -> dict[str, str]:
        found = (journal.order(cl_ord_id) for cl_ord_id in cl_ord_ids)
        return {record.cl_ord_id: record.status for record in found if record is not None}

    try:
        result: dict[str, str] = engine.writer.call(read, timeout=_ASK_TIMEOUT_S)
    except Exception as exc:
        log.warning("cannot read the orders' statuses from the journal: %s", exc)
        return {}
    return result


def _live_count(engine: Engine) -> int:
    try:
        state = engine.desk()
    except Exception:
        return 0
    return state.live_orders + state.queued_orders
