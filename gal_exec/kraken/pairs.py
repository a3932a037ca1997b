"""Pair rules from AssetPairs: every naming form resolved to one pair, and order checks against
Kraken's minimums, tick size and decimals.

Kraken names a pair four ways: its id (``XXBTZUSD``), its altname (``XBTUSD``), its WS v1 name
(``XBT/USD``) and the WS v2 symbol (``BTC/USD``, where XBT is BTC and XDG is DOGE). The registry
accepts any of them, in any case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import msgspec

from gal_exec.core.numbers import decimal_context, decimal_problems, in_range
from gal_exec.core.text import excerpt
from gal_exec.kraken.codec import AssetPairInfo

__all__ = [
    "ORDER_TYPES",
    "PairRegistry",
    "PairRules",
    "UnknownPair",
    "is_on_lot",
    "is_on_tick",
    "quantize_price",
    "quantize_quantity",
    "v2_asset",
    "validate_order",
]

ORDER_TYPES = frozenset(
    {
        "market",
        "limit",
        "iceberg",
        "stop-loss",
        "take-profit",
        "stop-loss-limit",
        "take-profit-limit",
        "trailing-stop",
        "trailing-stop-limit",
        "settle-position",
    }
)
_NEEDS_LIMIT_PRICE = frozenset({"limit", "iceberg", "stop-loss-limit", "take-profit-limit"})
_NEEDS_TRIGGER = frozenset({"stop-loss", "take-profit", "stop-loss-limit", "take-profit-limit"})
# Their prices are offsets from the market, not absolute levels: no tick or minimum-cost check.
_TRAILING = frozenset({"trailing-stop", "trailing-stop-limit"})

# Asset codes WS v2 spells differently from Kraken's older names.
_V2_ASSET_NAMES = {"XBT": "BTC", "XDG": "DOGE"}


def v2_asset(code: str) -> str:
    """The WS v2 spelling of an asset code from a wsname (``XBT`` -> ``BTC``, ``XDG`` -> ``DOGE``)."""
    return _V2_ASSET_NAMES.get(code, code)


class UnknownPair(KeyError):
    """A pair name that matches no pair in the registry."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown pair"


class PairRules(msgspec.Struct, frozen=True, kw_only=True):
    """One pair's names and trading rules. Prices have ``pair_decimals`` decimals and lie on
    ``tick_size``; quantities have ``lot_decimals`` decimals and are at least ``ordermin``; price
    times quantity is at least ``costmin``.
    """

    pair_id: str
    altname: str
    wsname: str
    symbol: str
    base: str
    quote: str
    pair_decimals: int
    lot_decimals: int
    cost_decimals: int
    ordermin: Decimal
    costmin: Decimal
    tick_size: Decimal
    status: str = "online"

    @classmethod
    def from_asset_pair(cls, pair_id: str, info: AssetPairInfo) -> PairRules:
        """Rules from an AssetPairs entry; missing optional limits become no limit (0)."""
        wsname = info.wsname or info.altname
        base_name, _, quote_name = wsname.partition("/")
        symbol = f"{v2_asset(base_name)}/{v2_asset(quote_name)}" if quote_name else wsname
        tick = info.tick_size if info.tick_size else Decimal(1).scaleb(-info.pair_decimals)
        return cls(
            pair_id=pair_id,
            altname=info.altname,
            wsname=wsname,
            symbol=symbol,
            base=info.base,
            quote=info.quote,
            pair_decimals=info.pair_decimals,
            lot_decimals=info.lot_decimals,
            cost_decimals=(
                info.cost_decimals if info.cost_decimals is not None else info.pair_decimals
            ),
            ordermin=info.ordermin or Decimal(0),
            costmin=info.costmin or Decimal(0),
            tick_size=tick,
            status=info.status,
        )

    @property
    def lot_step(self) -> Decimal:
        """The smallest quantity increment, 10 ** -lot_decimals."""
        return Decimal(1).scaleb(-self.lot_decimals)


class PairRegistry:
    """Resolves every naming form of a pair (id, altname, wsname, WS v2 symbol, with or without
    the slash, any case) to its :class:`PairRules`.
    """

    def __init__(self, rules: Iterable[PairRules]) -> None:
        self._by_id: dict[str, PairRules] = {}
        self._by_name: dict[str, PairRules] = {}
        ordered = list(rules)
        # Exact names first, so a derived alias never shadows another pair's real name.
        for rule in ordered:
            self._by_id[rule.pair_id] = rule
            for name in (rule.pair_id, rule.altname, rule.wsname, rule.symbol):
                self._by_name.setdefault(name.upper(), rule)
        for rule in ordered:
            for name in (rule.symbol.replace("/", ""), rule.wsname.replace("/", "")):
                self._by_name.setdefault(name.upper(), rule)

    @classmethod
    def from_asset_pairs(cls, result: Mapping[str, AssetPairInfo]) -> PairRegistry:
        """A registry from a decoded AssetPairs result (pair id -> info)."""
        return cls(PairRules.from_asset_pair(pair_id, info) for pair_id, info in result.items())

    def resolve(self, name: str) -> PairRules:
        """The pair called ``name`` in any of Kraken's forms; UnknownPair if none."""
        rule = self._by_name.get(name.strip().upper())
        if rule is None:
            raise UnknownPair(f"unknown pair {name!r}")
        return rule

    def get(self, name: str) -> PairRules | None:
        return self._by_name.get(name.strip().upper())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().upper() in self._by_name

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)


def _text(value: Decimal) -> str:
    """Plain notation for a number in range; a bounded excerpt of anything else (never a
    gigabyte of zeros for ``1E-999999999``)."""
    return format(value, "f") if in_range(value) else excerpt(value)


def is_on_tick(rules: PairRules, price: Decimal) -> bool:
    """True if ``price`` is a whole multiple of the pair's tick size (a DecimalException if
    ``price`` is far outside the pair's scale, never a silently wrong answer)."""
    with decimal_context():
        return price % rules.tick_size == 0


def is_on_lot(rules: PairRules, quantity: Decimal) -> bool:
    """True if ``quantity`` has no more than the pair's lot decimals (a DecimalException if
    ``quantity`` is far outside the pair's scale)."""
    with decimal_context():
        return quantity % rules.lot_step == 0


def quantize_price(rules: PairRules, price: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """``price`` moved onto the tick grid (pass ROUND_DOWN / ROUND_UP to choose a side)."""
    ticks = (price / rules.tick_size).to_integral_value(rounding=rounding)
    return (ticks * rules.tick_size).quantize(Decimal(1).scaleb(-rules.pair_decimals))


def quantize_quantity(rules: PairRules, quantity: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
    """``quantity`` cut to the pair's lot decimals (down by default: never more than asked)."""
    return quantity.quantize(rules.lot_step, rounding=rounding)


def validate_order(
    rules: PairRules,
    side: str,
    order_type: str,
    quantity: Decimal,
    price: Decimal | None = None,
    trigger: Decimal | None = None,
    *,
    reference_price: Decimal | None = None,
    post_only: bool = False,
    reduce_only: bool = False,
) -> list[str]:
    """Reasons Kraken would refuse this order, each naming the rule and the numbers; [] if none.

    ``price`` is the limit price (limit, iceberg, *-limit types), ``trigger`` the trigger price
    (stop-loss and take-profit types). ``reference_price`` prices a market order for the minimum
    cost check. Trailing types carry offsets, so only their quantity is checked here.
    """
    out_of_range = decimal_problems(
        {"quantity": quantity, "price": price, "trigger price": trigger}
    )
    if out_of_range:
        return out_of_range
    try:
        with decimal_context():
            return _order_violations(
                rules,
                side,
                order_type,
                quantity,
                price,
                trigger,
                reference_price=reference_price,
                post_only=post_only,
                reduce_only=reduce_only,
            )
    except ArithmeticError as exc:  # decimal.DecimalException: numbers beyond the pair's scale
        return [f"numbers out of range for {rules.wsname}: {exc.__class__.__name__}"]


def _order_violations(
    rules: PairRules,
    side: str,
    order_type: str,
    quantity: Decimal,
    price: Decimal | None,
    trigger: Decimal | None,
    *,
    reference_price: Decimal | None,
    post_only: bool,
    reduce_only: bool,
) -> list[str]:
    name = rules.wsname
    violations: list[str] = []
    if side not in ("buy", "sell"):
        violations.append(f"side {side!r} is not buy or sell")
    if order_type not in ORDER_TYPES:
        violations.append(f"order type {order_type!r} is not one Kraken accepts")

    if quantity <= 0:
        violations.append(f"quantity {_text(quantity)} must be positive")
    else:
        if quantity < rules.ordermin:
            violations.append(
                f"quantity {_text(quantity)} below ordermin {_text(rules.ordermin)} for {name}"
            )
        if not is_on_lot(rules, quantity):
            violations.append(
                f"quantity {_text(quantity)} has more than lot_decimals {rules.lot_decimals} "
                f"decimals for {name}"
            )

    if order_type not in _TRAILING:
        violations.extend(_price_violations(rules, order_type, price, trigger))
        cost_price = price if price is not None else trigger
        if cost_price is None:
            cost_price = reference_price
        if cost_price is not None and cost_price > 0 and quantity > 0:
            cost = cost_price * quantity
            if cost < rules.costmin:
                violations.append(
                    f"cost {_text(cost)} below costmin {_text(rules.costmin)} for {name}"
                )

    violations.extend(_status_violations(rules, order_type, post_only, reduce_only))
    return violations


def _price_violations(
    rules: PairRules, order_type: str, price: Decimal | None, trigger: Decimal | None
) -> list[str]:
    name = rules.wsname
    violations: list[str] = []
    if order_type in _NEEDS_LIMIT_PRICE and price is None:
        violations.append(f"{order_type} order needs a limit price")
    if order_type not in _NEEDS_LIMIT_PRICE and price is not None:
        violations.append(f"{order_type} order takes no limit price")
    if order_type in _NEEDS_TRIGGER and trigger is None:
        violations.append(f"{order_type} order needs a trigger price")
    if order_type not in _NEEDS_TRIGGER and trigger is not None:
        violations.append(f"{order_type} order takes no trigger price")
    for label, value in (("price", price), ("trigger price", trigger)):
        if value is None:
            continue
        if value <= 0:
            violations.append(f"{label} {_text(value)} must be positive")
        elif not is_on_tick(rules, value):
            violations.append(
                f"{label} {_text(value)} not a multiple of tick_size "
                f"{_text(rules.tick_size)} for {name}"
            )
    return violations


def _status_violations(
    rules: PairRules, order_type: str, post_only: bool, reduce_only: bool
) -> list[str]:
    name = rules.wsname
    status = rules.status
    if status == "online":
        return []
    if status == "cancel_only":
        return [f"{name} is in cancel_only mode: no new orders"]
    if status == "post_only" and not (order_type == "limit" and post_only):
        return [f"{name} is in post_only mode: only post-only limit orders"]
    if status == "limit_only" and order_type != "limit":
        return [f"{name} is in limit_only mode: only limit orders"]
    if status == "reduce_only" and not reduce_only:
        return [f"{name} is in reduce_only mode: only reduce-only orders"]
    if status not in ("post_only", "limit_only", "reduce_only"):
        return [f"{name} has status {status!r}: not open for new orders"]
    return []
