"""The simulated Kraken exchange: thread-safe core behind the REST and WS front ends.

One RLock guards all state. WS callbacks (executions, ticker) run outside it, in the order the
events happened: events are queued under the lock and delivered by whichever thread drains the
queue, one drainer at a time.

Time: with a manual clock (``SimConfig.clock = "manual"`` or an injected ``ManualClock``) nothing
moves until the clock is advanced (``advance``, or anyone advancing the same ManualClock): then
due price steps (one per ``step_interval_s``, at most 2000 per advance), scheduled starts, GTD
expiries and dead man's switches run in time order. With the real clock, ``start()`` runs a
thread that steps every ``step_interval_s``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from gal_exec.config import SimConfig
from gal_exec.core.clock import ManualClock, SystemClock
from gal_exec.sim import errors, queries
from gal_exec.sim.accounts import Account
from gal_exec.sim.auth import DEMO_API_KEY, DEMO_API_SECRET, verify
from gal_exec.sim.errors import SimError
from gal_exec.sim.external_prices import ExternalPricesApi
from gal_exec.sim.faults import FaultPlan
from gal_exec.sim.feeds import FeedsApi
from gal_exec.sim.limits import RateLimits
from gal_exec.sim.market_control import ControlApi
from gal_exec.sim.matching import IdMaker, MatchingEngine
from gal_exec.sim.pairs import DEFAULT_BALANCES, PairTable
from gal_exec.sim.permissions import (
    ALL_PERMISSIONS,
    PERMISSION_DENIED,
    TRADING_PERMISSIONS,
    api_key_info,
    check_permissions,
)
from gal_exec.sim.prices import Market, load_price_csv
from gal_exec.sim.trading import TradingApi

__all__ = ["Exchange"]

log = logging.getLogger(__name__)

_TOKEN_TTL_S = 900
_MAX_CATCH_UP = {True: 2000, False: 8}


class Exchange(TradingApi, FeedsApi, ControlApi, ExternalPricesApi):
    """The exchange core (see SIM_CONTRACT.md for the interface the front ends use)."""

    def __init__(
        self, config: SimConfig | None = None, clock: Any = None, *, pairs: PairTable | None = None
    ) -> None:
        config = config or SimConfig()
        self.config = config
        if clock is None:
            clock = ManualClock(start=time.time()) if config.clock == "manual" else SystemClock()
        self.clock = clock
        self.manual = config.clock == "manual" or hasattr(clock, "advance")
        self.tier = config.tier
        self.status = "online"
        self.pairs = pairs or PairTable()
        self.limits = RateLimits(config.tier, clock, enforce=config.enforce_rate_limits)
        self.faults = (
            FaultPlan.load(config.faults, default_seed=config.seed)
            if config.faults
            else FaultPlan(seed=config.seed)
        )
        self.interval = float(config.step_interval_s)
        replay = load_price_csv(config.price_csv, self.pairs) if config.price_csv else {}
        per_step = Decimal(str(config.liquidity_per_step))
        markets = {
            key: Market(
                pair=pair,
                mid=pair.start_price,
                spread_bps=Decimal(str(config.spread_bps)),
                volatility_bps=float(config.volatility_bps),
                per_step=per_step,
                rng=random.Random(config.seed * 7919 + index),
                replay=list(replay.get(key, [])),
            )
            for index, (key, pair) in enumerate(self.pairs.pairs.items())
        }
        self.engine = MatchingEngine(
            self.pairs,
            markets,
            maker_pct=Decimal(config.maker_fee_pct),
            taker_pct=Decimal(config.taker_fee_pct),
            ids=IdMaker(config.seed),
            monotonic=clock.monotonic,
        )
        self._lock = threading.RLock()
        self._emit_lock = threading.Lock()
        self._local = threading.local()
        self._exec_subs: dict[int, tuple[str, Callable[[list[dict]], None]]] = {}
        self._ticker_subs: dict[int, Callable[[dict], None]] = {}
        self._handles = 0
        self._tokens: dict[str, list] = {}
        self._next_step_at = clock.time() + self.interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ws_disconnectors: list[Callable[[], int]] = []
        self.add_account(DEMO_API_KEY, DEMO_API_SECRET, dict(DEFAULT_BALANCES), name="demo")
        if self.manual and hasattr(clock, "add_listener"):
            clock.add_listener(self._on_clock)

    # -- lifecycle and locking ------------------------------------------------------------

    def start(self) -> None:
        """Start the price-stepping thread (real clock only; a manual clock steps on advance)."""
        if self.manual or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sim-steps", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop stepping and detach from the clock."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if hasattr(self.clock, "remove_listener"):
            self.clock.remove_listener(self._on_clock)

    def _run(self) -> None:
        while not self._stop.wait(max(0.0, self._next_step_at - self.clock.time())):
            try:
                with self._op(process=False) as now:
                    self._run_due(now)
            except Exception:
                log.exception("simulator step failed")

    def _on_clock(self) -> None:
        with self._op(process=False) as now:
            self._run_due(now)

    def _run_due(self, now: float) -> None:
        steps = 0
        while self._next_step_at <= now:
            if steps >= _MAX_CATCH_UP[self.manual]:
                self._next_step_at = now + self.interval
                break
            when = self._next_step_at
            self.engine.process_time(when)
            if not self.engine.paused:
                self.engine.step_all(when)
            self._next_step_at += self.interval
            steps += 1
        self.engine.process_time(now)

    @contextmanager
    def _op(self, *, process: bool = True) -> Iterator[float]:
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        try:
            with self._lock:
                now = self.clock.time()
                if process:
                    self.engine.process_time(now)
                yield now
        finally:
            self._local.depth = depth
            if depth == 0:
                self._flush()

    def _flush(self) -> None:
        """Deliver queued WS events outside the state lock, globally in order.

        One thread drains at a time; a callback that calls back into the exchange does not
        drain again (the outer loop delivers what it queued, in order).
        """
        engine = self.engine
        if getattr(self._local, "flushing", False) or not (engine.events or engine.tickers):
            return
        self._local.flushing = True
        try:
            with self._emit_lock:
                while True:
                    with self._lock:
                        events, engine.events = engine.events, []
                        tickers, engine.tickers = engine.tickers, []
                        subs = list(self._exec_subs.values())
                        ticker_subs = list(self._ticker_subs.values())
                    if not events and not tickers:
                        return
                    for api_key, event in events:
                        for key, callback in subs:
                            if key == api_key:
                                self._call(callback, [event])
                    for ticker in tickers:
                        for on_ticker in ticker_subs:
                            self._call(on_ticker, ticker)
        finally:
            self._local.flushing = False

    @staticmethod
    def _call(callback: Callable, payload: Any) -> None:
        try:
            callback(payload)
        except Exception:
            log.exception("simulator event callback failed")

    # -- accounts and authentication ------------------------------------------------------

    def add_account(
        self,
        api_key: str,
        api_secret: str,
        balances: dict[str, Decimal],
        *,
        nonce_window: int = 0,
        permissions: Iterable[str] | None = None,
        name: str = "",
    ) -> None:
        """Create (or replace) an account; ValueError if the secret is not base64 of 64 bytes
        or a permission is unknown. ``permissions`` default to what trading needs."""
        chosen = TRADING_PERMISSIONS if permissions is None else tuple(permissions)
        unknown = sorted(set(chosen) - set(ALL_PERMISSIONS))
        if unknown:
            raise ValueError(
                f"unknown permission {unknown[0]!r}; known: {', '.join(ALL_PERMISSIONS)}"
            )
        account = Account(
            api_key,
            api_secret,
            {k: Decimal(v) for k, v in balances.items()},
            nonce_window=nonce_window,
            permissions=chosen,
            name=name or f"key-{len(self.engine.accounts) + 1}",
            created=self.clock.time(),
        )
        with self._lock:
            self.engine.accounts[api_key] = account

    def has_permission(self, api_key: str, method: str) -> bool:
        """Whether the key may call ``method`` (a REST method or a WS v2 trading method)."""
        account = self.engine.accounts.get(api_key)
        return account is not None and check_permissions(account.permissions, method)

    def require_permission(self, api_key: str, method: str) -> None:
        """Kraken's ``EGeneral:Permission denied`` when the key may not call ``method``."""
        if not self.has_permission(api_key, method):
            raise SimError(PERMISSION_DENIED)

    def api_key_info(self, api_key: str) -> dict:
        """GetApiKeyInfo: the calling key's name, permissions and nonce state."""
        with self._lock:
            account = self._account(api_key)
            return api_key_info(
                api_key=api_key,
                name=account.name,
                permissions=account.permissions,
                nonce=account.nonces.highest,
                nonce_window=account.nonce_window,
                created=account.created,
                last_used=account.last_used,
            )

    def secret_for(self, api_key: str) -> str | None:
        account = self.engine.accounts.get(api_key)
        return account.secret if account else None

    def _account(self, api_key: str) -> Account:
        account = self.engine.accounts.get(api_key)
        if account is None:
            raise SimError(errors.INVALID_KEY)
        return account

    def authenticate(
        self,
        api_key: str | None,
        api_sign: str | None,
        uri_path: str,
        body: bytes,
        nonce: str | None,
    ) -> None:
        """Kraken's checks in order: key, nonce present, signature over the raw body, nonce
        above the last one (or inside the key's window). Raises SimError."""
        account = self.engine.accounts.get(api_key or "")
        if account is None:
            raise SimError(errors.INVALID_KEY)
        if nonce is None or not nonce.isdigit():
            raise SimError(errors.INVALID_NONCE)
        if not api_sign or not verify(account.secret_key, uri_path, nonce, body, api_sign):
            raise SimError(errors.INVALID_SIGNATURE)
        with self._lock:
            if not account.nonces.accept(int(nonce)):
                raise SimError(errors.INVALID_NONCE)
            account.last_used = self.clock.time()

    def charge_rest(self, api_key: str, endpoint: str) -> None:
        with self._lock:
            self.limits.charge_rest(api_key, endpoint)

    def issue_ws_token(self, api_key: str) -> str:
        with self._lock:
            self._account(api_key)
            token = self.engine.ids.token()
            self._tokens[token] = [api_key, self.clock.monotonic(), False]
            return token

    def key_for_token(self, token: str) -> str | None:
        """The key a WS token belongs to; None if unknown or unused for 15 minutes."""
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None:
                return None
            if not entry[2] and self.clock.monotonic() - entry[1] > _TOKEN_TTL_S:
                return None
            entry[2] = True
            return entry[0]

    # -- private queries ------------------------------------------------------------------

    def query_orders(
        self, api_key: str, txids: Any, trades: bool = False, userref: int | None = None
    ) -> dict:
        with self._op():
            account = self._account(api_key)
            return queries.query_orders(self.engine, account, txids, trades=trades, userref=userref)

    def open_orders(
        self,
        api_key: str,
        *,
        trades: bool = False,
        userref: int | None = None,
        cl_ord_id: str | None = None,
    ) -> dict:
        with self._op():
            return queries.open_orders(
                self._account(api_key), trades=trades, userref=userref, cl_ord_id=cl_ord_id
            )

    def closed_orders(
        self,
        api_key: str,
        *,
        trades: bool = False,
        userref: int | None = None,
        cl_ord_id: str | None = None,
        start: Any = None,
        end: Any = None,
        ofs: Any = 0,
        closetime: str = "both",
    ) -> dict:
        with self._op():
            return queries.closed_orders(
                self.engine,
                self._account(api_key),
                trades=trades,
                userref=userref,
                cl_ord_id=cl_ord_id,
                start=start,
                end=end,
                ofs=ofs,
                closetime=closetime,
            )

    def query_trades(self, api_key: str, txids: Any) -> dict:
        with self._op():
            return queries.query_trades(self._account(api_key), txids)

    def trades_history(
        self, api_key: str, *, start: Any = None, end: Any = None, ofs: Any = 0
    ) -> dict:
        with self._op():
            return queries.trades_history(
                self.engine, self._account(api_key), start=start, end=end, ofs=ofs
            )

    def balance(self, api_key: str) -> dict:
        with self._op():
            return queries.balance(self.pairs, self._account(api_key))

    def balance_ex(self, api_key: str) -> dict:
        with self._op():
            return queries.balance_ex(self.pairs, self._account(api_key))
