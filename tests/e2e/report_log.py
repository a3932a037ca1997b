"""ReportLog: the ExecutionReports an engine delivered, thread-safe and waitable by condition."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from gal_exec.messages import ExecutionReport

__all__ = ["TERMINAL", "WAIT_S", "ReportLog", "brief"]

TERMINAL = frozenset({"filled", "canceled", "expired", "rejected"})
WAIT_S = 10.0


class ReportLog:
    """Every ExecutionReport the engine delivered, in delivery order; waitable."""

    def __init__(self) -> None:
        self._reports: list[ExecutionReport] = []
        self._changed = threading.Condition()

    def __call__(self, report: ExecutionReport) -> None:
        with self._changed:
            self._reports.append(report)
            self._changed.notify_all()

    @property
    def all(self) -> list[ExecutionReport]:
        with self._changed:
            return list(self._reports)

    def wait_for(
        self,
        predicate: Callable[[list[ExecutionReport]], Any],
        timeout: float = WAIT_S,
        what: str = "reports",
    ) -> Any:
        """Block until ``predicate(reports)`` is truthy; return its value or fail naming ``what``."""
        result: Any = None

        def check() -> bool:
            nonlocal result
            result = predicate(self._reports)
            return bool(result)

        with self._changed:
            if not self._changed.wait_for(check, timeout=timeout):
                tail = "\n  ".join(brief(r) for r in self._reports[-12:])
                raise AssertionError(
                    f"timed out after {timeout:g} s waiting for {what}; last:\n  {tail}"
                )
        return result

    # -- views --------------------------------------------------------------------------------

    def of_signal(self, signal_id: str) -> list[ExecutionReport]:
        return [r for r in self.all if r.signal_id == signal_id]

    def of_order(self, cl_ord_id: str) -> list[ExecutionReport]:
        return [r for r in self.all if r.client_order_id == cl_ord_id]

    def entry_id(self, signal_id: str, timeout: float = WAIT_S) -> str:
        """The client order id the engine gave the entry of ``signal_id``."""
        return self._order_id(signal_id, "entry", timeout)

    def child_id(self, signal_id: str, role: str, timeout: float = WAIT_S) -> str:
        return self._order_id(signal_id, role, timeout)

    def _order_id(self, signal_id: str, role: str, timeout: float) -> str:
        # Every order's first report is pending_submit; a refused signal has only "rejected".
        return self.wait_for(
            lambda rs: next(
                (
                    r.client_order_id
                    for r in rs
                    if r.signal_id == signal_id and r.role == role and r.status == "pending_submit"
                ),
                None,
            ),
            timeout,
            f"the {role} order of signal {signal_id}",
        )

    def wait_status(
        self, cl_ord_id: str, statuses: Iterable[str], timeout: float = WAIT_S
    ) -> ExecutionReport:
        """The first report of ``cl_ord_id`` whose status is one of ``statuses``."""
        wanted = frozenset(statuses)
        return self.wait_for(
            lambda rs: next(
                (r for r in rs if r.client_order_id == cl_ord_id and r.status in wanted), None
            ),
            timeout,
            f"{cl_ord_id} to reach {sorted(wanted)}",
        )

    def wait_terminal(self, cl_ord_id: str, timeout: float = WAIT_S) -> ExecutionReport:
        return self.wait_status(cl_ord_id, TERMINAL, timeout)

    def wait_filled_quantity(
        self, cl_ord_id: str, quantity: Decimal, timeout: float = WAIT_S
    ) -> ExecutionReport:
        """The first report of ``cl_ord_id`` with exactly ``quantity`` filled."""
        return self.wait_for(
            lambda rs: next(
                (r for r in rs if r.client_order_id == cl_ord_id and r.filled_quantity == quantity),
                None,
            ),
            timeout,
            f"{cl_ord_id} to report {quantity} filled",
        )

    def last(self, cl_ord_id: str) -> ExecutionReport:
        reports = self.of_order(cl_ord_id)
        assert reports, f"no report for {cl_ord_id}"
        return reports[-1]


def brief(report: ExecutionReport) -> str:
    return (
        f"{report.signal_id}/{report.role} {report.client_order_id} #{report.sequence} "
        f"{report.status} filled={report.filled_quantity}/{report.quantity} "
        f"trade={report.trade_id} reason={report.reason!r} code={report.error_code!r}"
    )
