"""Builders shared by the tests of hostile input: a signal as JSON and XBT/USD's pair rules."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from gal_exec.kraken.pairs import PairRules

XBT_RULES = PairRules(
    pair_id="XXBTZUSD",
    altname="XBTUSD",
    wsname="XBT/USD",
    symbol="BTC/USD",
    base="XXBT",
    quote="ZUSD",
    pair_decimals=1,
    lot_decimals=8,
    cost_decimals=5,
    ordermin=Decimal("0.0001"),
    costmin=Decimal("0.5"),
    tick_size=Decimal("0.1"),
)
"""Kraken's XBT/USD as AssetPairs describes it (and as the simulator serves it)."""


def signal_body(signal_id: str, **fields: Any) -> dict[str, Any]:
    """A market buy of 0.01 XBT/USD as a JSON object, with ``fields`` changed."""
    body: dict[str, Any] = {
        "type": "TradeSignalApproved",
        "signal_id": signal_id,
        "pair": "XBT/USD",
        "side": "buy",
        "order_type": "market",
        "quantity": "0.01",
    }
    body.update(fields)
    return body


def signal_json(signal_id: str, **fields: Any) -> bytes:
    """:func:`signal_body` as one JSON line (no LF)."""
    return json.dumps(signal_body(signal_id, **fields)).encode()
