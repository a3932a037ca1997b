"""The desk's vocabulary: its settings, the commands it sends an order, the effects it asks its
shell to carry out, and its health."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

import msgspec

from gal_exec.core.amend import AmendChange
from gal_exec.core.intake import MAX_BATCH_SIGNALS, BatchPlan
from gal_exec.core.order import OrderModel, OrderSettings, OrderSpec
from gal_exec.core.positions import AssetBalance, FillReport, PositionView
from gal_exec.core.risk import RiskLimits
from gal_exec.core.updates import OrderUpdate

_ZERO = Decimal(0)


class JournaledReport(FillReport, Protocol):
    """A report as the journal holds it: ReportLike plus the order it belongs to, its pair and
    its side."""


class DeskSettings(msgspec.Struct, frozen=True, kw_only=True):
    max_live_orders: int = 10_000
    limit_timeout_s: float = 300.0
    order: OrderSettings = msgspec.field(default_factory=OrderSettings)
    risk: RiskLimits = msgspec.field(default_factory=lambda: RiskLimits(quantize=False))
    max_batch_signals: int = MAX_BATCH_SIGNALS
    stale_after_s: float = 10.0
    max_unchanged_s: float = 0.0
    cl_ord_id_prefix: str = "g"


# ---- commands the desk sends to one order (the OrderActor takes them as they are) ----------------


class OrderCommand(msgspec.Struct, frozen=True, kw_only=True):
    pass


class CancelOrder(OrderCommand, frozen=True, kw_only=True, tag=True):
    reason: str


class AmendOrder(OrderCommand, frozen=True, kw_only=True, tag=True):
    """An operator's amend (AmendSignal) the desk has checked: the order sends it or refuses."""

    change: AmendChange


class SetPosition(OrderCommand, frozen=True, kw_only=True, tag=True):
    """A protective child: the entry's position it must cover."""

    filled_quantity: Decimal
    final: bool = False


class StreamChanged(OrderCommand, frozen=True, kw_only=True, tag=True):
    up: bool
    gap: bool = False


class VerifyStatus(OrderCommand, frozen=True, kw_only=True, tag=True):
    """The open-orders audit did not list this order: ask for its record."""


class IntentDurable(OrderCommand, frozen=True, kw_only=True, tag=True):
    """The journal committed this order's intent: its request may now leave."""


# ---- effects ------------------------------------------------------------------------------------


class DeskEffect(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Journal(DeskEffect, frozen=True, kw_only=True):
    """Make a new order's intent durable, with its first report (and its signal, for an entry).

    ``to_order``: tell the order IntentDurable when durable (it runs already); otherwise tell
    the desk (``durable``), which passes it on once the order runs.
    """

    model: OrderModel
    signal: Any = None
    to_order: bool = True


class Run(DeskEffect, frozen=True, kw_only=True):
    """Hand ``model`` to an OrderActor. ``resume``: it was rebuilt from the journal; ``durable``:
    its intent is durable already (tell it IntentDurable at once). A new order (not started)
    is handed over at its birth, the Journal effect that follows."""

    model: OrderModel
    resume: bool = False
    durable: bool = False


class Tell(DeskEffect, frozen=True, kw_only=True):
    """Tell the running order ``cl_ord_id`` a command or an exchange update."""

    cl_ord_id: str
    message: OrderCommand | OrderUpdate


class Link(DeskEffect, frozen=True, kw_only=True):
    """Two running children are an OCO pair: each tells the other what it fills."""

    first: str
    second: str


class Reject(DeskEffect, frozen=True, kw_only=True):
    """A signal (or a command) refused: one rejected report, with the reason."""

    signal_id: str
    reason: str
    pair: str = ""
    side: str = ""
    order_type: str = ""
    quantity: Decimal = _ZERO


class Report(DeskEffect, frozen=True, kw_only=True):
    """Report a step of an order that has no actor (cancelled while queued)."""

    model: OrderModel
    effects: tuple[Any, ...]


class Reload(DeskEffect, frozen=True, kw_only=True):
    """An order's actor died: rebuild its model from the journal and call ``restarted``."""

    spec: OrderSpec


class ListOpenOrders(DeskEffect, frozen=True, kw_only=True):
    """The flat-cost audit: one OpenOrders call; answer with ``audit_result``."""


class OpenBatch(DeskEffect, frozen=True, kw_only=True):
    """Follow a batch's orders until each settles, then report the batch."""

    plan: BatchPlan


class Settle(DeskEffect, frozen=True, kw_only=True):
    """Everything of this signal is finished: restore need not replay it again."""

    signal_id: str


class JournalLevels(DeskEffect, frozen=True, kw_only=True):
    """An entry's protection levels moved (a child's trigger was amended): journal them, so
    a restart places later protection at the new level (None: that level is unchanged)."""

    cl_ord_id: str
    sl_price: Decimal | None = None
    tp_price: Decimal | None = None


class FetchBalances(DeskEffect, frozen=True, kw_only=True):
    """Ask the exchange for the account's balances (BalanceEx); answer with ``balances``."""


class Note(DeskEffect, frozen=True, kw_only=True):
    """A line for the log: ``level`` is "info", "warning" or "error"."""

    level: str
    text: str


class AccountHealth(msgspec.Struct, frozen=True, kw_only=True):
    """Positions from the engine's own fills, by pair, and the account's balances as the
    exchange last gave them (``balances_at``, epoch seconds; ``balances_error`` if that failed).
    """

    positions: dict[str, PositionView]
    balances: dict[str, AssetBalance]
    balances_at: float | None = None
    balances_error: str | None = None


class DeskHealth(msgspec.Struct, frozen=True, kw_only=True):
    halted: str | None
    stream_up: bool
    live_orders: int
    queued_orders: int
    exposure_total: str
    breakers: dict[str, str]
    signals: int
    rejected_signals: int
    orders: int
    finished: int
    anomalies: int
    """Events order models refused or figures they could not account (each one is logged)."""
    last_anomaly: str | None
    account: AccountHealth
