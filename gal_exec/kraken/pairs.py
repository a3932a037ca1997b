"""Pair rules from AssetPairs: every naming form resolved to one pair, and the pair's rules as the
core checks take them (gal_exec.core.grid checks an order against them).

Kraken names a pair four ways: its id (``XXBTZUSD``), its altname (``XBTUSD``), its WS v1 name
(``XBT/USD``) and the WS v2 symbol (``BTC/USD``, where XBT is BTC and XDG is DOGE). The registry
accepts any of them, in any case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import msgspec

from gal_exec.core.grid import PairLimits
from gal_exec.core.numbers import decimal_context
from gal_exec.kraken.codec import AssetPairInfo

__all__ = [
    "PairRegistry",
    "PairRules",
    "UnknownPair",
    "is_on_lot",
    "is_on_tick",
    "quantize_price",
    "quantize_quantity",
    "v2_asset",
]

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

    def limits(self) -> PairLimits:
        """The pair's rules as the engine's core checks take them."""
        return PairLimits(
            pair=self.symbol,
            name=self.wsname,
            request_name=self.altname,
            price_decimals=self.pair_decimals,
            tick_size=self.tick_size,
            lot_step=self.lot_step,
            ordermin=self.ordermin,
            costmin=self.costmin,
            status=self.status,
        )


class PairRegistry:
    """Resolves every naming form of a pair (id, altname, wsname, WS v2 symbol, with or without
    the slash, any case) to its :class:`PairRules`.
    """

    def __init__(self, rules: Iterable[PairRules]) -> None:
        self._by_id: dict[str, PairRules] = {}
        self._by_name: dict[str, PairRules] = {}
        self._limits: dict[str, PairLimits] = {}
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

    def limits(self, name: str) -> PairLimits | None:
        """The rules of the pair called ``name`` (any form) as core checks take them; None if
        no pair is called that."""
        rule = self.get(name)
        if rule is None:
            return None
        found = self._limits.get(rule.pair_id)
        if found is None:
            found = self._limits[rule.pair_id] = rule.limits()
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().upper() in self._by_name

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)


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
