"""The simulator's markets: asset and pair definitions with Kraken's names, rules and formatting.

Every pair carries the four names Kraken uses (key ``XXBTZUSD``, altname ``XBTUSD``, wsname
``XBT/USD``, WS v2 symbol ``BTC/USD``) and the order rules AddOrder enforces (``ordermin``,
``costmin``, ``tick_size``, decimals). Values are close to Kraken's real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

__all__ = [
    "DEFAULT_ASSETS",
    "DEFAULT_BALANCES",
    "DEFAULT_PAIRS",
    "AssetSpec",
    "PairSpec",
    "PairTable",
    "fmt",
]

_EXPONENTS = {places: Decimal(1).scaleb(-places) for places in range(0, 19)}


def fmt(value: Decimal, places: int) -> str:
    """``value`` as a fixed-point string with exactly ``places`` decimals (Kraken's REST style)."""
    return format(value.quantize(_EXPONENTS[places], rounding=ROUND_HALF_EVEN), "f")


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """One asset: Kraken's REST key (``XXBT``), altname (``XBT``) and WS v2 name (``BTC``)."""

    key: str
    altname: str
    ws_name: str
    decimals: int
    display_decimals: int


@dataclass(frozen=True, slots=True)
class PairSpec:
    """One tradable pair and the order rules AddOrder checks against it."""

    key: str
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
    start_price: Decimal
    lot_step: Decimal = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lot_step", _EXPONENTS[self.lot_decimals])

    def round_price(self, price: Decimal) -> Decimal:
        """``price`` rounded to the nearest tick (for computed, e.g. relative, prices)."""
        ticks = (price / self.tick_size).to_integral_value(rounding=ROUND_HALF_EVEN)
        return (ticks * self.tick_size).quantize(_EXPONENTS[self.pair_decimals])

    def floor_price(self, price: Decimal) -> Decimal:
        ticks = (price / self.tick_size).to_integral_value(rounding=ROUND_FLOOR)
        return (ticks * self.tick_size).quantize(_EXPONENTS[self.pair_decimals])

    def ceil_price(self, price: Decimal) -> Decimal:
        ticks = (price / self.tick_size).to_integral_value(rounding=ROUND_CEILING)
        return (ticks * self.tick_size).quantize(_EXPONENTS[self.pair_decimals])

    def on_tick(self, price: Decimal) -> bool:
        return price % self.tick_size == 0

    def price_str(self, value: Decimal) -> str:
        return fmt(value, self.pair_decimals)

    def vol_str(self, value: Decimal) -> str:
        return fmt(value, self.lot_decimals)

    def cost_str(self, value: Decimal) -> str:
        return fmt(value, self.cost_decimals)


def _pair(key, altname, wsname, symbol, base, quote, decimals, ordermin, costmin, tick, start):
    return PairSpec(
        key=key,
        altname=altname,
        wsname=wsname,
        symbol=symbol,
        base=base,
        quote=quote,
        pair_decimals=decimals,
        lot_decimals=8,
        cost_decimals=6 if quote == "XXBT" else 5,
        ordermin=Decimal(ordermin),
        costmin=Decimal(costmin),
        tick_size=Decimal(tick),
        start_price=Decimal(start),
    )


DEFAULT_ASSETS: tuple[AssetSpec, ...] = (
    AssetSpec("ZUSD", "USD", "USD", 4, 2),
    AssetSpec("ZEUR", "EUR", "EUR", 4, 2),
    AssetSpec("XXBT", "XBT", "BTC", 10, 5),
    AssetSpec("XETH", "ETH", "ETH", 10, 5),
    AssetSpec("SOL", "SOL", "SOL", 10, 5),
    AssetSpec("XXDG", "XDG", "DOGE", 8, 2),
    AssetSpec("XXRP", "XRP", "XRP", 8, 5),
    AssetSpec("ADA", "ADA", "ADA", 8, 6),
    AssetSpec("XLTC", "LTC", "LTC", 10, 5),
    AssetSpec("DOT", "DOT", "DOT", 10, 8),
    AssetSpec("LINK", "LINK", "LINK", 10, 5),
    AssetSpec("AVAX", "AVAX", "AVAX", 10, 5),
)

DEFAULT_PAIRS: tuple[PairSpec, ...] = (
    _pair(
        "XXBTZUSD",
        "XBTUSD",
        "XBT/USD",
        "BTC/USD",
        "XXBT",
        "ZUSD",
        1,
        "0.0001",
        "0.5",
        "0.1",
        "65000.0",
    ),
    _pair(
        "XETHZUSD",
        "ETHUSD",
        "ETH/USD",
        "ETH/USD",
        "XETH",
        "ZUSD",
        2,
        "0.002",
        "0.5",
        "0.01",
        "3200.00",
    ),
    _pair(
        "SOLUSD", "SOLUSD", "SOL/USD", "SOL/USD", "SOL", "ZUSD", 2, "0.02", "0.5", "0.01", "150.00"
    ),
    _pair(
        "XDGUSD",
        "XDGUSD",
        "XDG/USD",
        "DOGE/USD",
        "XXDG",
        "ZUSD",
        7,
        "30",
        "0.5",
        "0.0000001",
        "0.1500000",
    ),
    _pair(
        "XETHXXBT",
        "ETHXBT",
        "ETH/XBT",
        "ETH/BTC",
        "XETH",
        "XXBT",
        5,
        "0.002",
        "0.00002",
        "0.00001",
        "0.04900",
    ),
    _pair(
        "XXRPZUSD",
        "XRPUSD",
        "XRP/USD",
        "XRP/USD",
        "XXRP",
        "ZUSD",
        5,
        "2",
        "0.5",
        "0.00001",
        "0.60000",
    ),
    _pair(
        "ADAUSD",
        "ADAUSD",
        "ADA/USD",
        "ADA/USD",
        "ADA",
        "ZUSD",
        6,
        "5",
        "0.5",
        "0.000001",
        "0.450000",
    ),
    _pair(
        "XLTCZUSD",
        "LTCUSD",
        "LTC/USD",
        "LTC/USD",
        "XLTC",
        "ZUSD",
        2,
        "0.05",
        "0.5",
        "0.01",
        "80.00",
    ),
    _pair(
        "DOTUSD", "DOTUSD", "DOT/USD", "DOT/USD", "DOT", "ZUSD", 4, "0.2", "0.5", "0.0001", "6.0000"
    ),
    _pair(
        "LINKUSD",
        "LINKUSD",
        "LINK/USD",
        "LINK/USD",
        "LINK",
        "ZUSD",
        5,
        "0.2",
        "0.5",
        "0.00001",
        "14.00000",
    ),
    _pair(
        "AVAXUSD",
        "AVAXUSD",
        "AVAX/USD",
        "AVAX/USD",
        "AVAX",
        "ZUSD",
        2,
        "0.1",
        "0.5",
        "0.01",
        "30.00",
    ),
    _pair(
        "XXBTZEUR",
        "XBTEUR",
        "XBT/EUR",
        "BTC/EUR",
        "XXBT",
        "ZEUR",
        1,
        "0.0001",
        "0.5",
        "0.1",
        "60000.0",
    ),
)

DEFAULT_BALANCES: dict[str, Decimal] = {
    "ZUSD": Decimal("10000000"),
    "ZEUR": Decimal("10000000"),
    "XXBT": Decimal("100"),
    "XETH": Decimal("2000"),
    "SOL": Decimal("50000"),
    "XXDG": Decimal("50000000"),
    "XXRP": Decimal("10000000"),
    "ADA": Decimal("10000000"),
    "XLTC": Decimal("50000"),
    "DOT": Decimal("500000"),
    "LINK": Decimal("300000"),
    "AVAX": Decimal("200000"),
}
"""The demo account's starting balances: several million USD worth of every asset."""


class PairTable:
    """Pairs and assets with lookup by any of Kraken's names (case-insensitive)."""

    def __init__(
        self,
        pairs: tuple[PairSpec, ...] = DEFAULT_PAIRS,
        assets: tuple[AssetSpec, ...] = DEFAULT_ASSETS,
    ) -> None:
        self.pairs: dict[str, PairSpec] = {pair.key: pair for pair in pairs}
        self.assets: dict[str, AssetSpec] = {asset.key: asset for asset in assets}
        self._names: dict[str, PairSpec] = {}
        for pair in pairs:
            names = (pair.key, pair.altname, pair.wsname, pair.symbol, pair.symbol.replace("/", ""))
            for name in names:
                self._names.setdefault(name.upper(), pair)
        self._by_symbol = {pair.symbol: pair for pair in pairs}

    def find(self, name: str) -> PairSpec | None:
        """The pair called ``name`` in any naming form, or None."""
        return self._names.get(name.strip().upper())

    def by_symbol(self, symbol: str) -> PairSpec | None:
        """The pair with WS v2 symbol ``symbol`` (exact, e.g. ``BTC/USD``)."""
        return self._by_symbol.get(symbol)

    def asset(self, key: str) -> AssetSpec:
        return self.assets[key]

    def find_asset(self, name: str) -> AssetSpec | None:
        """An asset by key, altname or WS name (case-insensitive)."""
        wanted = name.strip().upper()
        for asset in self.assets.values():
            if wanted in (asset.key.upper(), asset.altname.upper(), asset.ws_name.upper()):
                return asset
        return None
