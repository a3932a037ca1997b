"""Paper trading: the embedded simulator matches orders at live prices from a public feed.

``exchange.mode = "paper"`` starts the simulator with a :class:`PaperFeed`: a Kraken WS v2
``ticker`` subscription (``paper.feed_url``, Kraken's public endpoint by default; no key) whose
bid, ask and last become the simulated markets' prices. The engine trades against the simulator
exactly as in sim mode (its own demo account, its fees and liquidity per price update), so a
strategy runs on live markets without risking money. When the feed drops, its markets turn stale
(cancel_only) until the client has reconnected and quoted them again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from gal_exec.config import Config
from gal_exec.kraken.ws import KrakenWsClient, TickerSubscription, WsEvent
from gal_exec.kraken.ws_codec import SubscriptionAck, TickerMessage

__all__ = ["PaperFeed", "PaperSetupError", "paper_feed", "paper_simulator"]

log = logging.getLogger("gal_exec.paper")


class PaperSetupError(ValueError):
    """The paper feed cannot be set up as configured (one line naming the key)."""


class PaperFeed:
    """Follows a WS v2 ticker feed for ``symbols`` and quotes a simulator Exchange with it.

    Runs on the WS client's reader thread; the Exchange is thread-safe. ``quotes`` counts the
    tickers applied, ``sessions`` the connections made, ``drops`` the feeds lost; ``changed`` is
    notified on each.
    """

    def __init__(
        self,
        url: str,
        symbols: list[str],
        *,
        event_trigger: str = "bbo",
        liveness_timeout_s: float = 10.0,
        clock: Any = None,
    ) -> None:
        if not symbols:
            raise PaperSetupError("paper.pairs: no pair to follow")
        self.url = url
        self.symbols = list(symbols)
        self.event_trigger = event_trigger
        self.liveness_timeout_s = liveness_timeout_s
        self.clock = clock
        self.quotes = 0
        self.sessions = 0
        self.drops = 0
        self.refused: dict[str, str] = {}
        self._quoted: set[str] = set()
        self.changed = threading.Condition()
        self._exchange: Any = None
        self._client: KrakenWsClient | None = None

    def start(self, exchange: Any) -> None:
        """Connect (in the background) and quote ``exchange`` until :meth:`stop`."""
        self._exchange = exchange
        self._client = KrakenWsClient(
            self.url,
            on_message=self._on_message,
            on_event=self._on_event,
            subscriptions=[
                TickerSubscription(
                    symbols=tuple(self.symbols),
                    event_trigger=self.event_trigger,  # type: ignore[arg-type]
                )
            ],
            clock=self.clock,
            liveness_timeout_s=self.liveness_timeout_s,
            name="paper-feed",
        )
        self._client.start()

    def quoted_symbols(self) -> set[str]:
        """The symbols quoted at least once."""
        with self.changed:
            return set(self._quoted)

    def stop(self) -> None:
        if self._client is not None:
            self._client.stop()
            self._client = None

    def _on_message(self, message: object) -> None:
        if isinstance(message, TickerMessage):
            applied = [
                ticker.symbol
                for ticker in message.data
                if self._exchange.external_quote(
                    ticker.symbol, bid=ticker.bid, ask=ticker.ask, last=ticker.last
                )
            ]
            if applied:
                with self.changed:
                    self._quoted.update(applied)
                    self.quotes += len(applied)
                    self.changed.notify_all()
        elif isinstance(message, SubscriptionAck) and not message.success:
            # A symbol the feed does not know stays stale (cancel_only) and says why.
            reason = message.error or "subscription refused"
            symbol = message.result.symbol if message.result is not None else None
            log.warning("paper feed refused %s: %s", symbol or "a subscription", reason)
            with self.changed:
                self.refused[symbol or "?"] = reason
                self.changed.notify_all()

    def _on_event(self, event: WsEvent) -> None:
        if event.kind == "connected":
            self._bump("sessions", 0, session=event.session)
        elif event.kind == "disconnected" and event.reason != "stopped":
            log.warning(
                "paper feed lost (%s): its markets are stale until it returns", event.reason
            )
            self._exchange.external_stale(f"price feed lost: {event.reason}")
            self._bump("drops", 1)

    def _bump(self, name: str, amount: int, *, session: int | None = None) -> None:
        with self.changed:
            if session is not None:
                self.sessions = session
            else:
                setattr(self, name, getattr(self, name) + amount)
            self.changed.notify_all()


def paper_feed(config: Config) -> PaperFeed:
    """The feed of ``exchange.mode = "paper"``: ``paper.feed_url`` for ``paper.pairs`` (else
    ``market_data.pairs``, else every simulated pair), as WS v2 symbols. Raises
    PaperSetupError naming the key of an unknown pair."""
    from gal_exec.sim.pairs import PairTable

    paper = config.paper
    table = PairTable()
    names = paper.pairs or config.market_data.pairs
    key = "paper.pairs" if paper.pairs else "market_data.pairs"
    symbols: list[str] = []
    for name in names:
        pair = table.find(name)
        if pair is None:
            raise PaperSetupError(f"{key}: unknown pair {name!r}")
        if pair.symbol not in symbols:
            symbols.append(pair.symbol)
    if not symbols:
        symbols = [pair.symbol for pair in table.pairs.values()]
    return PaperFeed(
        paper.feed_url,
        symbols,
        event_trigger=paper.event_trigger,
        liveness_timeout_s=paper.liveness_timeout_s,
    )


def paper_simulator(config: Config, feed: PaperFeed | None = None) -> Any:
    """The simulator of ``exchange.mode = "paper"``: [sim] settings, markets quoted by
    ``feed`` (default :func:`paper_feed`)."""
    from gal_exec.sim.server import Simulator

    return Simulator(config.sim, price_source=feed or paper_feed(config))
