"""The MarketData actor's settings and messages.

Subscribers (the supervisor) receive QuoteUpdate and QuotesConfirmed and mirror the prices in
their own ``gal_exec.core.market.PriceCache``; GetQuote answers one pair by message.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from gal_exec.actors.protocol import Tellable
from gal_exec.core.market import Quote, Stale
from gal_exec.kraken.codec import TickerInfo

__all__ = [
    "GetQuote",
    "MarketDataSettings",
    "QuoteReply",
    "QuoteUpdate",
    "QuotesConfirmed",
    "RestTicker",
    "SubscribeQuotes",
]


class MarketDataSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The ``[market_data]`` settings (see the proposed config section)."""

    stale_after_s: float = 10.0
    max_unchanged_s: float = 0.0
    rest_poll_interval_s: float = 2.0
    volatility_windows_s: tuple[float, ...] = (60.0, 300.0, 3600.0)
    volatility_sample_s: float = 1.0
    event_trigger: Literal["trades", "bbo"] = "bbo"
    liveness_timeout_s: float = 10.0


class GetQuote(msgspec.Struct, frozen=True, kw_only=True):
    """Ask for a pair's price (any of Kraken's names). With ``reply_to`` the answer is told as a
    QuoteReply; without, it is returned (an ask at the edge)."""

    pair: str
    reply_to: Tellable | None = None
    request_id: int = 0


class QuoteReply(msgspec.Struct, frozen=True, kw_only=True):
    request_id: int
    pair: str
    result: Quote | Stale


class QuoteUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """A new price, for subscribers to put in their PriceCache."""

    quote: Quote


class QuotesConfirmed(msgspec.Struct, frozen=True, kw_only=True):
    """The live subscription vouches that these pairs' prices are current at ``time``."""

    pairs: tuple[str, ...]
    time: float


class SubscribeQuotes(msgspec.Struct, frozen=True, kw_only=True):
    """Tell ``ref`` every QuoteUpdate and QuotesConfirmed from now on."""

    ref: Tellable


class RestTicker(msgspec.Struct, frozen=True, kw_only=True):
    """REST Ticker's a/b/c lists as the bid/ask/last the WS ticker has."""

    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None

    @classmethod
    def of(cls, info: TickerInfo) -> RestTicker:
        def first(values: list[Decimal]) -> Decimal | None:
            return values[0] if values else None

        return cls(bid=first(info.b), ask=first(info.a), last=first(info.c))
