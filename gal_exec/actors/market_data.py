"""MarketData: follows the public ticker of the pairs in use and keeps a price cache with
staleness and rolling volatility; falls back to polling REST Ticker while the stream is down.

The WS client's reader thread only decodes and tells this actor. REST polls run in an
HttpWorker this actor starts (no network in a handler); a timer paces them. Every new price is
told to subscribers as QuoteUpdate, and each heartbeat of a live subscription as QuotesConfirmed,
so a subscriber (the supervisor) can mirror the cache in its own PriceCache and never ask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Literal, cast

import msgspec
import pykka

from gal_exec.actors import protocol as p
from gal_exec.actors.http_worker import HttpWorker
from gal_exec.actors.market_protocol import (
    GetQuote,
    MarketDataSettings,
    QuoteReply,
    QuotesConfirmed,
    QuoteUpdate,
    RestTicker,
    SubscribeQuotes,
)
from gal_exec.actors.runtime import ThreadActor
from gal_exec.core.clock import Clock
from gal_exec.core.market import PriceCache, Quote, RollingVolatility, Stale, session_at
from gal_exec.core.timers import TimerFired
from gal_exec.kraken.pairs import PairRules
from gal_exec.kraken.ws import KrakenWsClient, TickerSubscription, WsEvent
from gal_exec.kraken.ws_codec import Heartbeat, SubscriptionAck, Ticker, TickerMessage

__all__ = [
    "GetQuote",
    "MarketData",
    "MarketDataSettings",
    "MarketHealth",
    "PairHealth",
    "QuoteReply",
    "QuoteUpdate",
    "QuotesConfirmed",
    "SubscribeQuotes",
]

log = logging.getLogger("gal_exec.market_data")

_POLL_KEY = "market_data:rest_poll"


class _Incoming(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded frame of the ticker connection (gal_exec.kraken.ws_codec), from its reader."""

    message: object


Inbox = _Incoming | WsEvent | TimerFired | p.HttpDone | GetQuote | SubscribeQuotes | p.GetHealth


class PairHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One pair's cached price: its age, source, staleness and volatility."""

    last: str | None
    source: str | None
    age_s: float | None
    stale: bool
    reason: str | None
    volatility: dict[str, float | None]


class MarketHealth(msgspec.Struct, frozen=True, kw_only=True):
    """Provider state, failure counts and each pair's price (keyed by WS v2 symbol)."""

    provider: str
    """Where prices come from now: "stream", "rest" or "none"."""
    stream_connected: bool
    polling: bool
    session: str
    last_stream_error: str
    last_rest_error: str
    stream_sessions: int
    stream_disconnects: int
    stream_errors: int
    rest_polls: int
    rest_failures: int
    rest_consecutive_failures: int
    pairs: dict[str, PairHealth]


# ---- the actor --------------------------------------------------------------------------------


class MarketData(ThreadActor):
    """Owns the ticker subscription, the price cache and the REST fallback for ``pairs``.

    ``rest_client`` is a KrakenRestClient (no credentials needed: Ticker is public); None turns
    the fallback off. Quotes are keyed by WS v2 symbol (``BTC/USD``); GetQuote takes any name.
    """

    def __init__(
        self,
        *,
        ws_url: str,
        pairs: Iterable[PairRules],
        clock: Clock,
        timers: p.TimerScheduler,
        settings: MarketDataSettings | None = None,
        rest_client: Any = None,
        subscribers: Iterable[p.Tellable] = (),
        client_factory: Callable[..., Any] = KrakenWsClient,
    ) -> None:
        super().__init__()
        self.settings = settings or MarketDataSettings()
        self.clock = clock
        self.timers = timers
        self.rest_client = rest_client
        self.subscribers = list(subscribers)
        rules = list(pairs)
        self.symbols = [rule.symbol for rule in rules]
        self.rest_names = [rule.altname for rule in rules]
        self.aliases: dict[str, str] = {}
        for rule in rules:
            for name in (rule.pair_id, rule.altname, rule.wsname, rule.symbol):
                self.aliases.setdefault(name.upper(), rule.symbol)
                self.aliases.setdefault(name.replace("/", "").upper(), rule.symbol)
        self.cache = PriceCache(
            stale_after_s=self.settings.stale_after_s,
            max_unchanged_s=self.settings.max_unchanged_s,
        )
        self.volatility = {
            symbol: RollingVolatility(
                self.settings.volatility_windows_s,
                sample_interval_s=self.settings.volatility_sample_s,
            )
            for symbol in self.symbols
        }
        self.worker: pykka.ActorRef[HttpWorker] | None = None
        self.connected = False
        self.streaming = False  # ticker data has arrived on the current connection
        self.subscribed: set[str] = set()
        self.polling = False
        self.poll_generation: int | None = None
        self.poll_in_flight = False
        self.rest_ok = False
        self.call_id = 0
        self.counts = {
            "stream_sessions": 0,
            "stream_disconnects": 0,
            "stream_errors": 0,
            "rest_polls": 0,
            "rest_failures": 0,
            "rest_consecutive_failures": 0,
        }
        self.last_stream_error = ""
        self.last_rest_error = ""
        ref = self.actor_ref
        self.client = client_factory(
            ws_url,
            on_message=lambda message: p.tell_quietly(ref, _Incoming(message=message)),
            on_event=lambda event: p.tell_quietly(ref, event),
            subscriptions=[
                TickerSubscription(
                    symbols=tuple(self.symbols), event_trigger=self.settings.event_trigger
                )
            ],
            clock=clock,
            liveness_timeout_s=self.settings.liveness_timeout_s,
            name="ticker",
        )

    def on_start(self) -> None:
        if self.rest_client is not None:
            self.worker = HttpWorker.start(self.rest_client, clock=self.clock)
        # Until the stream delivers, REST gives the first prices.
        self._start_polling()
        self.client.start()

    def on_stop(self) -> None:
        self.client.stop()
        self.timers.cancel(_POLL_KEY)
        if self.worker is not None:
            self.worker.stop()

    def on_receive(self, message: Any) -> QuoteReply | MarketHealth | None:
        return self._handle(cast(Inbox, message))

    def _handle(self, message: Inbox) -> QuoteReply | MarketHealth | None:
        match message:
            case _Incoming(message=TickerMessage() as ticker):
                self._tickers(ticker)
            case _Incoming(message=Heartbeat()):
                self._heartbeat()
            case _Incoming(message=SubscriptionAck() as ack):
                self._ack(ack)
            case _Incoming():
                pass
            case WsEvent():
                self._event(message)
            case TimerFired(key=key, generation=generation):
                if key == _POLL_KEY and generation == self.poll_generation and self.polling:
                    self.poll_generation = self.timers.schedule(
                        _POLL_KEY, self.settings.rest_poll_interval_s, self.actor_ref
                    )
                    self._poll()
            case p.HttpDone():
                self._polled(message)
            case GetQuote():
                return self._get_quote(message)
            case SubscribeQuotes(ref=ref):
                self.subscribers.append(ref)
            case p.GetHealth():
                return self.health()
            case _:
                p.unexpected(message, actor="MarketData", log=log)
        return None

    # ---- the stream ----------------------------------------------------------------------------

    def _event(self, event: WsEvent) -> None:
        if event.kind == "connected":
            self.connected = True
            self.counts["stream_sessions"] = event.session
        elif event.kind == "disconnected":
            was_streaming = self.streaming
            self.connected = False
            self.streaming = False
            self.subscribed.clear()
            self.counts["stream_disconnects"] += 1
            self.last_stream_error = event.reason
            if was_streaming:
                log.warning("ticker stream down (%s): polling REST Ticker", event.reason)
            self._start_polling()
        elif event.kind == "error":
            self.counts["stream_errors"] += 1
            self.last_stream_error = event.reason

    def _ack(self, ack: SubscriptionAck) -> None:
        result = ack.result
        if ack.method != "subscribe" or result is None or result.channel != "ticker":
            return
        if ack.success and result.symbol:
            self.subscribed.add(result.symbol)
            self._maybe_stop_polling()

    def _tickers(self, message: TickerMessage) -> None:
        now = self.clock.time()
        for ticker in message.data:
            if ticker.symbol in self.volatility:
                self._record(ticker.symbol, ticker, now, "stream")
        if not self.streaming:
            self.streaming = True
            self._maybe_stop_polling()

    def _maybe_stop_polling(self) -> None:
        """Polling stops once the stream delivers and every pair's subscription is confirmed;
        a pair the stream refused stays on REST."""
        if self.streaming and self.polling and self.subscribed.issuperset(self.symbols):
            log.info("ticker stream live: REST polling stops")
            self._stop_polling()

    def _heartbeat(self) -> None:
        if not self.streaming or not self.subscribed:
            return
        now = self.clock.time()
        pairs = tuple(sorted(self.subscribed))
        self.cache.touch(pairs, now)
        self._broadcast(QuotesConfirmed(pairs=pairs, time=now))

    def _record(
        self,
        symbol: str,
        ticker: Ticker | RestTicker,
        now: float,
        source: Literal["stream", "rest"],
    ) -> None:
        bid, ask, last = ticker.bid, ticker.ask, ticker.last
        mid = (bid + ask) / 2 if bid and ask and bid > 0 and ask > 0 else None
        price = last if last is not None and last > 0 else mid
        if price is None:
            return
        series = self.volatility[symbol]
        # Mid damps bid/ask bounce in the volatility estimate; the trade price is the fallback.
        series.add(mid if mid is not None else price, now)
        quote = self.cache.update(
            symbol,
            last=price,
            bid=bid if bid and bid > 0 else None,
            ask=ask if ask and ask > 0 else None,
            time=now,
            source=source,
            volatility=series.values(now),
        )
        if quote is not None:
            self._broadcast(QuoteUpdate(quote=quote))

    def _broadcast(self, message: QuoteUpdate | QuotesConfirmed) -> None:
        for ref in list(self.subscribers):
            if not p.tell_quietly(ref, message):
                self.subscribers.remove(ref)

    # ---- the REST fallback ---------------------------------------------------------------------

    def _start_polling(self) -> None:
        if self.polling or self.worker is None:
            return
        self.polling = True
        self.poll_generation = self.timers.schedule(
            _POLL_KEY, self.settings.rest_poll_interval_s, self.actor_ref
        )
        self._poll()

    def _stop_polling(self) -> None:
        self.polling = False
        self.rest_ok = False
        self.poll_generation = None
        self.timers.cancel(_POLL_KEY)

    def _poll(self) -> None:
        worker = self.worker
        if self.poll_in_flight or worker is None:
            return  # one call at a time: a slow reply must not pile up requests
        self.poll_in_flight = True
        self.call_id += 1
        self.counts["rest_polls"] += 1
        worker.tell(
            p.HttpCall(
                call_id=self.call_id,
                endpoint="Ticker",
                method_name="ticker",
                kwargs={"pairs": list(self.rest_names)},
                reply_to=self.actor_ref,
            )
        )

    def _polled(self, done: p.HttpDone) -> None:
        self.poll_in_flight = False
        if not self.polling:
            return  # the stream came back while the call ran: its prices are newer
        if done.error is not None:
            self.rest_ok = False
            self.counts["rest_failures"] += 1
            self.counts["rest_consecutive_failures"] += 1
            self.last_rest_error = f"{type(done.error).__name__}: {done.error}"
            if self.counts["rest_consecutive_failures"] == 1:
                log.warning("REST Ticker poll failed: %s", self.last_rest_error)
            return
        self.rest_ok = True
        self.counts["rest_consecutive_failures"] = 0
        now = self.clock.time()
        for name, info in (done.result or {}).items():
            symbol = self.aliases.get(str(name).upper())
            if symbol is None or (self.streaming and symbol in self.subscribed):
                continue  # the stream's prices are newer than this reply
            self._record(symbol, RestTicker.of(info), now, "rest")

    # ---- answers -------------------------------------------------------------------------------

    def _resolve(self, pair: str) -> str | None:
        name = pair.strip().upper()
        return self.aliases.get(name) or self.aliases.get(name.replace("/", ""))

    def _get_quote(self, request: GetQuote) -> QuoteReply | None:
        symbol = self._resolve(request.pair)
        if symbol is None:
            result: Quote | Stale = Stale(
                pair=request.pair, reason=f"market data does not follow {request.pair!r}"
            )
        else:
            result = self.cache.quote(symbol, self.clock.time())
        reply = QuoteReply(request_id=request.request_id, pair=request.pair, result=result)
        if request.reply_to is None:
            return reply
        p.tell_quietly(request.reply_to, reply)
        return None

    def provider(self) -> str:
        """Where prices come from now: "stream", "rest" or "none"."""
        if self.streaming:
            return "stream"
        if self.polling and self.rest_ok:
            return "rest"
        return "none"

    def health(self) -> MarketHealth:
        """Provider state, failure counts and each pair's price age and volatility."""
        now = self.clock.time()
        pairs: dict[str, PairHealth] = {}
        for symbol in self.symbols:
            held = self.cache.get(symbol)
            answer = self.cache.quote(symbol, now)
            pairs[symbol] = PairHealth(
                last=str(held.last) if held is not None else None,
                source=held.source if held is not None else None,
                age_s=round(held.age(now), 3) if held is not None else None,
                stale=isinstance(answer, Stale),
                reason=answer.reason if isinstance(answer, Stale) else None,
                volatility=self.volatility[symbol].values(now),
            )
        counts = self.counts
        return MarketHealth(
            provider=self.provider(),
            stream_connected=self.connected,
            polling=self.polling,
            session=session_at(now),
            last_stream_error=self.last_stream_error,
            last_rest_error=self.last_rest_error,
            stream_sessions=counts["stream_sessions"],
            stream_disconnects=counts["stream_disconnects"],
            stream_errors=counts["stream_errors"],
            rest_polls=counts["rest_polls"],
            rest_failures=counts["rest_failures"],
            rest_consecutive_failures=counts["rest_consecutive_failures"],
            pairs=pairs,
        )
