"""Seeded sets of signals for the crash-recovery tests, and the price paths that complete them.

While the engine is being killed, prices zigzag between ``KILL_LOW`` and ``KILL_HIGH`` (fractions
of each pair's base price): near brackets reach one side only (a buy's take-profit, a sell's
stop-loss), so no bracket can close twice while the engine is down. The far bracket keeps the
engine busy until the final phase, which holds prices at ``FINAL_HIGH`` (closing every bracket
on that side) and then at ``FINAL_LOW`` (the other side, for a child resized after its sibling
filled).
"""

from __future__ import annotations

import json
import random
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from harness import PricePath

__all__ = [
    "FINAL_HIGH",
    "FINAL_LOW",
    "KILL_HIGH",
    "KILL_LOW",
    "PAIRS",
    "build_scenario",
    "price_paths",
    "write_signals",
]

# Kraken pair key -> (altname used in signals, base price, tick)
PAIRS: dict[str, tuple[str, Decimal, Decimal]] = {
    "XXBTZUSD": ("XBTUSD", Decimal("65000.0"), Decimal("0.1")),
    "XETHZUSD": ("ETHUSD", Decimal("3200.00"), Decimal("0.01")),
    "SOLUSD": ("SOLUSD", Decimal("150.00"), Decimal("0.01")),
}
KILL_LOW = -0.001
KILL_HIGH = 0.005
NEAR = 0.003  # near brackets: sl / tp this far from base
BRACKET_LIMIT = 0.0025  # the limit bracket's entry price
FAR = 0.03  # the far bracket: only the final phase reaches it
FINAL_HIGH = 0.04
FINAL_LOW = -0.04
SLOW_ETH_PER_STEP = "0.02"  # ETH liquidity per step, so ETH orders fill over many steps


def price_paths(rng: random.Random) -> list[PricePath]:
    return [
        PricePath(alt, base, tick, low=KILL_LOW, high=KILL_HIGH, phase=rng.random())
        for alt, base, tick in PAIRS.values()
    ]


def _price(alt: str, fraction: float) -> str:
    for name, base, tick in PAIRS.values():
        if name == alt:
            raw = base * (1 + Decimal(str(fraction)))
            return str((raw / tick).to_integral_value(ROUND_HALF_EVEN) * tick)
    raise KeyError(alt)


def _quantity(rng: random.Random, low: str, high: str, places: int) -> str:
    step = Decimal(1).scaleb(-places)
    span = int((Decimal(high) - Decimal(low)) / step)
    return str(Decimal(low) + step * rng.randint(0, span))


def _bracket(alt: str, side: str, fraction: float) -> dict[str, str]:
    up, down = _price(alt, fraction), _price(alt, -fraction)
    if side == "buy":
        return {"sl_price": down, "tp_price": up}
    return {"sl_price": up, "tp_price": down}


def _market(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"pair": "XBTUSD", "quantity": _quantity(rng, "0.001", "0.02", 3)}
    return {"pair": "SOLUSD", "quantity": _quantity(rng, "1", "5", 1)}


def _kind(kind: str, rng: random.Random) -> dict[str, Any]:
    side = rng.choice(("buy", "sell"))
    if kind == "market":
        return {"order_type": "market", "side": side, **_market(rng)}
    if kind == "market_slow":
        quantity = _quantity(rng, "0.2", "0.4", 2)
        return {"order_type": "market", "side": side, "pair": "ETHUSD", "quantity": quantity}
    if kind == "limit_timeout":
        return {
            "order_type": "limit",
            "side": "buy",
            "pair": "SOLUSD",
            "quantity": _quantity(rng, "1", "4", 1),
            "limit_price": _price("SOLUSD", -0.05),
            "timeout_s": round(rng.uniform(0.5, 3.0), 2),
        }
    if kind == "limit_fill":
        return {
            "order_type": "limit",
            "side": side,
            "pair": "XBTUSD",
            "quantity": _quantity(rng, "0.001", "0.02", 3),
            "limit_price": _price("XBTUSD", 0.01 if side == "buy" else -0.01),
            "timeout_s": 5.0,
        }
    if kind == "limit_partial":
        return {
            "order_type": "limit",
            "side": "buy",
            "pair": "ETHUSD",
            "quantity": _quantity(rng, "2", "3", 1),
            "limit_price": _price("ETHUSD", 0.01),
            "timeout_s": round(rng.uniform(1.0, 3.0), 2),
        }
    if kind == "bracket_market":
        market = _market(rng)
        return {
            "order_type": "market",
            "side": side,
            **market,
            **_bracket(market["pair"], side, NEAR),
        }
    if kind == "bracket_limit":
        # Rests until the zigzag comes down to it, fills at its price, then the take-profit
        # above it closes the position on the way up.
        return {
            "order_type": "limit",
            "side": "buy",
            "pair": "ETHUSD",
            "quantity": _quantity(rng, "0.3", "0.6", 2),
            "limit_price": _price("ETHUSD", BRACKET_LIMIT),
            "timeout_s": round(rng.uniform(1.5, 3.0), 2),
            "sl_price": _price("ETHUSD", -NEAR),
            "tp_price": _price("ETHUSD", BRACKET_LIMIT + 0.001),
        }
    if kind == "bracket_far":
        return {
            "order_type": "market",
            "side": "buy",
            "pair": "XBTUSD",
            "quantity": "0.01",
            **_bracket("XBTUSD", "buy", FAR),
        }
    raise ValueError(kind)


_KINDS = (
    "market",
    "market_slow",
    "limit_timeout",
    "limit_fill",
    "limit_partial",
    "bracket_market",
    "bracket_limit",
)


def build_scenario(seed: int, extra: int = 3) -> list[dict[str, Any]]:
    """One signal of every kind, ``extra`` more at random, and the far bracket, shuffled."""
    rng = random.Random(seed)
    kinds = [*_KINDS, *(rng.choice(_KINDS) for _ in range(extra)), "bracket_far"]
    rng.shuffle(kinds)
    signals = []
    for index, kind in enumerate(kinds):
        body = _kind(kind, rng)
        signals.append(
            {"type": "TradeSignalApproved", "signal_id": f"s{seed}-{index:02d}-{kind}", **body}
        )
    return signals


def write_signals(path: Path, signals: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(signal) + "\n" for signal in signals))
