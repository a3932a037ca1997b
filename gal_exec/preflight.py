"""``gal-exec check``: the preflight a person runs before going live.

Against the configured exchange (the same config as ``run``; in sim and paper mode the embedded
simulator is started) it checks, one line each: the journal can be written (a running engine's
lock is a warning, and then no private call is made: it would share that engine's nonces and
could disarm its dead man's switch), the exchange's SystemStatus, the clock offset to the
exchange, the rate-limit model in use, the API key and its permissions (GetApiKeyInfo: no
Withdraw, the nonce window the config expects), the WebSocket token, balances of the configured
pairs, and that the dead man's switch can be armed and disarmed. The secret is never printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec

from gal_exec.config import Config
from gal_exec.core.clock import SystemClock
from gal_exec.journal import Journal, JournalError
from gal_exec.kraken.auth import Credentials
from gal_exec.kraken.codec import ApiKeyInfo, epoch_of
from gal_exec.kraken.errors import KrakenAPIError, KrakenError
from gal_exec.kraken.nonce import NonceSequencer, NonceStateError
from gal_exec.kraken.ratelimits import TIER_LIMITS, Tier
from gal_exec.kraken.rest import KrakenRestClient

__all__ = ["CheckResult", "Preflight", "nonce_state_path"]

Status = Literal["ok", "warn", "fail"]

WITHDRAW = "withdraw-funds"
# The permissions Kraken documents by these names in GetApiKeyInfo's example; the others an
# engine needs (cancel, closed orders, WebSocket) are proved by calling what needs them.
REQUIRED_PERMISSIONS = ("query-open-trades", "modify-trades")


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the preflight: ``status`` ok, warn or fail; ``detail`` for a person."""

    name: str
    status: Status
    detail: str


class _Failed(Exception):
    """A check's failure, with the detail to print."""


class _Warned(Exception):
    """A check's warning, with the detail to print."""


def nonce_state_path(journal_file: Path) -> Path:
    """Where the engine keeps its nonce high-water mark for this journal (beside it), so the
    check's nonces and the next engine's never go below each other."""
    from gal_exec.engine import Engine

    return Engine.nonce_state_path(journal_file)


class Preflight:
    """Runs the checks against one exchange; ``results`` holds one CheckResult per check."""

    def __init__(
        self,
        config: Config,
        *,
        rest_url: str,
        credentials: Credentials | None,
        journal_path: Path,
        pairs: Sequence[str],
        clock_offset_warn_s: float = 2.0,
    ) -> None:
        self.config = config
        self.rest_url = rest_url
        self.credentials = credentials
        self.journal_path = journal_path
        self.pairs = list(pairs)
        self.clock_offset_warn_s = clock_offset_warn_s
        self.results: list[CheckResult] = []
        self.engine_running = False
        self.live_orders = 0
        self.key_info: ApiKeyInfo | None = None
        exchange = config.exchange
        self.public = KrakenRestClient(
            rest_url,
            None,
            clock=SystemClock(),
            connect_timeout=exchange.connect_timeout_s,
            read_timeout=exchange.read_timeout_s,
        )
        self.private: KrakenRestClient | None = None

    # ---- running ---------------------------------------------------------------------------

    def check(self, name: str, run: Callable[[], str]) -> CheckResult:
        """Run one check: its return is an ok detail, _Warned / _Failed say otherwise; any other
        error fails the check with its one-line message."""
        try:
            result = CheckResult(name=name, status="ok", detail=run())
        except _Warned as warned:
            result = CheckResult(name=name, status="warn", detail=str(warned))
        except _Failed as failed:
            result = CheckResult(name=name, status="fail", detail=str(failed))
        except (KrakenError, OSError, ValueError) as exc:
            result = CheckResult(name=name, status="fail", detail=_one_line(exc))
        self.results.append(result)
        return result

    def run(self) -> list[CheckResult]:
        self.check("journal", self.journal)
        self.check("system status", self.system_status)
        self.check("clock", self.clock)
        self.check("rate limits", self.rate_limits)
        if self.credentials is None:
            return self.results
        if self.engine_running:
            self.results.append(
                CheckResult(
                    name="private calls",
                    status="warn",
                    detail=(
                        "skipped: an engine is running on this journal; the check would share "
                        "its key's nonces and could disarm its dead man's switch (run it before "
                        "starting the engine)"
                    ),
                )
            )
            return self.results
        self.private = self._private_client(self.credentials)
        key = self.check("api key", self.api_key)
        if key.status != "fail":
            self.check("permissions", self.permissions)
            self.check("withdraw", self.withdraw)
            self.check("nonce window", self.nonce_window)
            self.check("websocket token", self.websocket_token)
            self.check("balances", self.balances)
            self.check("dead man's switch", self.dead_man_switch)
        return self.results

    def _private_client(self, credentials: Credentials) -> KrakenRestClient:
        exchange = self.config.exchange
        state = nonce_state_path(self.journal_path) if not self.engine_running else None
        try:
            nonce = NonceSequencer(SystemClock(), state_path=state)
        except NonceStateError:
            nonce = NonceSequencer(SystemClock())
        return KrakenRestClient(
            self.rest_url,
            credentials,
            nonce=nonce,
            clock=SystemClock(),
            connect_timeout=exchange.connect_timeout_s,
            read_timeout=exchange.read_timeout_s,
            nonce_window=exchange.nonce_window,
        )

    # ---- the checks ------------------------------------------------------------------------

    def journal(self) -> str:
        path = self.journal_path
        if not self.config.journal.enabled:
            raise _Warned("disabled (journal.enabled = false): a crash would lose order state")
        if path.exists():
            try:
                journal = Journal.open(path, synchronous=self.config.journal.synchronous)
            except JournalError as exc:
                if "locked by another engine" in str(exc):
                    self.engine_running = True
                    raise _Warned(f"{exc} (a running engine; left alone)") from None
                raise _Failed(str(exc)) from None
            try:
                journal.record_event("preflight", "gal-exec check")
                self.live_orders = len(journal.live_orders())
            finally:
                journal.close()
            live = f"; {self.live_orders} live orders from the last run" if self.live_orders else ""
            return f"{path}: writable (a preflight event was recorded){live}"
        folder = path.parent
        existing = folder
        while not existing.exists():
            existing = existing.parent
        if not os.access(existing, os.W_OK | os.X_OK):
            raise _Failed(f"{path}: cannot be created ({existing} is not writable)")
        if folder.exists():
            probe = folder / f".{path.name}.check-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        return f"{path}: does not exist yet; the engine will create it"

    def system_status(self) -> str:
        status = self.public.system_status()
        if status.status != "online":
            raise _Warned(f"{status.status} since {status.timestamp}: orders cannot trade now")
        return f"online ({status.timestamp})"

    def clock(self) -> str:
        before = time.time()
        server = self.public.time()
        after = time.time()
        # Kraken's Time has whole seconds (truncated): its middle against the round trip's.
        offset = round(server.unixtime + 0.5 - (before + after) / 2, 1) + 0.0
        detail = f"offset {offset:+.1f} s to the exchange (its Time has 1 s resolution)"
        if abs(offset) > self.clock_offset_warn_s:
            raise _Warned(f"{detail}; above {self.clock_offset_warn_s:g} s: sync this clock (NTP)")
        return detail

    def rate_limits(self) -> str:
        tier = Tier(self.config.exchange.tier)
        limits = TIER_LIMITS[tier]
        return (
            f"{tier.value} (exchange.tier): REST counter max {limits.rest_max:g}, decays "
            f"{limits.rest_decay:g}/s (AddOrder and CancelOrder not counted); trading counter "
            f"{limits.trading_threshold:g} per pair, decays {limits.trading_decay:g}/s; "
            f"{limits.max_open_orders_per_pair} open orders per pair"
        )

    def api_key(self) -> str:
        assert self.private is not None
        try:
            self.key_info = self.private.get_api_key_info()
        except KrakenAPIError as exc:
            if any(error.startswith("EGeneral:Unknown method") for error in exc.errors):
                self.private.balance()
                raise _Warned(
                    "accepted (Balance answered); GetApiKeyInfo is not available, so its "
                    "permissions cannot be listed"
                ) from None
            raise _Failed(f"refused: {', '.join(exc.errors)}") from None
        info = self.key_info
        return f"accepted: {info.name or 'unnamed'!r}, permissions {', '.join(info.permissions)}"

    def permissions(self) -> str:
        info = self._info()
        missing = [name for name in REQUIRED_PERMISSIONS if name not in info.permissions]
        if missing:
            raise _Failed(
                f"missing {', '.join(missing)}: the key needs Query Open Orders & Trades and "
                "Create & Modify Orders (and Cancel/Close Orders, WebSocket)"
            )
        return f"has {', '.join(REQUIRED_PERMISSIONS)}"

    def withdraw(self) -> str:
        info = self._info()
        withdraw = [name for name in info.permissions if "withdraw" in name]
        if withdraw:
            raise _Warned(
                f"!!! THIS KEY CAN WITHDRAW FUNDS ({', '.join(withdraw)}): a leaked key could "
                "move your money out. Create a key without Withdraw Funds for trading !!!"
            )
        return "no withdraw permission"

    def nonce_window(self) -> str:
        info = self._info()
        expected = self.config.exchange.nonce_window
        if info.nonce_window != expected:
            raise _Warned(
                f"the key's nonce window is {info.nonce_window}; exchange.nonce_window says "
                f"{expected}: make them equal"
            )
        return f"{info.nonce_window} (matches exchange.nonce_window)"

    def websocket_token(self) -> str:
        assert self.private is not None
        token = self.private.get_websockets_token()
        return f"issued (valid {token.expires} s): the executions stream can authenticate"

    def balances(self) -> str:
        assert self.private is not None
        held = self.private.balance()
        if not self.pairs:
            funded = sorted(asset for asset, amount in held.items() if amount)
            raise _Warned(
                f"no pairs configured (market_data.pairs or --pairs); assets held: "
                f"{', '.join(funded) or 'none'}"
            )
        rules = self.public.asset_pairs()
        parts: list[str] = []
        empty: list[str] = []
        for name in self.pairs:
            found = _find_pair(rules, name)
            if found is None:
                raise _Failed(f"unknown pair {name!r}")
            base, quote = found.base, found.quote
            amounts = {asset: held.get(asset, 0) for asset in (base, quote)}
            parts.append(f"{name}: {base} {amounts[base]}, {quote} {amounts[quote]}")
            if not any(amounts.values()):
                empty.append(name)
        detail = "; ".join(parts)
        if empty:
            raise _Warned(f"{detail} (nothing to trade on {', '.join(empty)})")
        return detail

    def dead_man_switch(self) -> str:
        assert self.private is not None
        timeout = self.config.engine.dead_man_timeout_s
        armed = self.private.cancel_all_orders_after(timeout)
        if self.live_orders:
            # Orders of a stopped engine are open: keep the net under them until the engine
            # starts and arms it again (if it does not, they are cancelled, as they should be).
            return (
                f"armed for {timeout} s and left armed: the journal holds {self.live_orders} live "
                f"orders; the engine re-arms it at start, else they are cancelled at "
                f"{armed.trigger_time}"
            )
        try:
            disarmed = self.private.cancel_all_orders_after(0)
        except KrakenError as exc:
            raise _Failed(
                f"armed for {timeout} s but could not disarm ({_one_line(exc)}): every open order "
                f"is cancelled at {armed.trigger_time} unless the switch is disarmed"
            ) from None
        start, trigger = epoch_of(armed.current_time), epoch_of(armed.trigger_time)
        if start is None or trigger is None or abs(trigger - start - timeout) > 1:
            raise _Failed(
                f"armed for {timeout} s but the exchange answered currentTime "
                f"{armed.current_time}, triggerTime {armed.trigger_time}"
            )
        if epoch_of(disarmed.trigger_time) is not None:
            raise _Failed(f"disarm answered triggerTime {disarmed.trigger_time}; expected 0")
        return f"armed for {timeout} s (trigger {armed.trigger_time}) and disarmed"

    def _info(self) -> ApiKeyInfo:
        if self.key_info is None:
            raise _Warned("unknown: the exchange does not list the key's permissions")
        return self.key_info


def _find_pair(rules: Mapping[str, Any], name: str) -> Any:
    wanted = name.strip().upper()
    for key, info in rules.items():
        names = {key, info.altname, info.wsname or ""}
        names |= {n.replace("/", "") for n in names}
        if wanted in {n.upper() for n in names} or wanted.replace("/", "") in names:
            return info
    return None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__
