"""Accounts of the simulated exchange: credentials, nonces, balances and holds, the dead man's
switch, and each account's orders and trades.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from gal_exec.sim.auth import NonceTracker, decode_secret
from gal_exec.sim.orders import SimOrder
from gal_exec.sim.permissions import TRADING_PERMISSIONS

__all__ = ["Account", "SimTrade"]


@dataclass(slots=True, eq=False)
class SimTrade:
    """One fill of one order against the simulated market."""

    txid: str
    trade_id: int
    order: SimOrder
    price: Decimal
    volume: Decimal
    cost: Decimal
    fee: Decimal
    fee_asset: str
    fee_usd: Decimal
    maker: bool
    time: float


@dataclass(slots=True, eq=False)
class Account:
    """One API key's account. ``available = balance - hold`` per asset."""

    api_key: str
    secret: str
    balances: dict[str, Decimal]
    nonce_window: int = 0
    permissions: tuple[str, ...] = TRADING_PERMISSIONS
    name: str = ""
    created: float = 0.0
    last_used: float = 0.0
    secret_key: bytes = b""
    nonces: NonceTracker = field(init=False)
    holds: dict[str, Decimal] = field(default_factory=dict)
    open: dict[str, SimOrder] = field(default_factory=dict)
    by_cl_ord_id: dict[str, SimOrder] = field(default_factory=dict)
    open_per_pair: dict[str, int] = field(default_factory=dict)
    closed: list[SimOrder] = field(default_factory=list)
    trades: list[SimTrade] = field(default_factory=list)
    dead_man_at: float | None = None

    def __post_init__(self) -> None:
        self.secret_key = decode_secret(self.secret)
        self.nonces = NonceTracker(self.nonce_window)

    def available(self, asset: str) -> Decimal:
        return self.balances.get(asset, Decimal(0)) - self.holds.get(asset, Decimal(0))

    def credit(self, asset: str, amount: Decimal) -> None:
        self.balances[asset] = self.balances.get(asset, Decimal(0)) + amount

    def hold(self, asset: str, delta: Decimal) -> None:
        self.holds[asset] = self.holds.get(asset, Decimal(0)) + delta

    def track_open(self, order: SimOrder) -> None:
        self.open[order.txid] = order
        if order.cl_ord_id is not None:
            self.by_cl_ord_id[order.cl_ord_id] = order
        key = order.pair.key
        self.open_per_pair[key] = self.open_per_pair.get(key, 0) + 1

    def track_closed(self, order: SimOrder) -> None:
        if self.open.pop(order.txid, None) is not None:
            key = order.pair.key
            self.open_per_pair[key] -= 1
        if order.cl_ord_id is not None and self.by_cl_ord_id.get(order.cl_ord_id) is order:
            del self.by_cl_ord_id[order.cl_ord_id]
        self.closed.append(order)
