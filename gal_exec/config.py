"""Typed configuration: config.toml decoded by msgspec into Structs with a default for everything.

Without a named file, ./config.toml is read if present, else the defaults apply; a file named
explicitly must exist. An empty file gives the defaults. A wrong type, unknown key or out-of-range
value raises ConfigError whose message is one line naming the file and the key path, e.g.
``config.toml: exchange.tier: expected one of starter, intermediate, pro; got "gold"``.
Secrets are never read from the file: only the names of the environment variables that hold them.
"""

from __future__ import annotations

import math
import re
import tomllib
import typing
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from gal_exec.core.text import excerpt
from gal_exec.kraken.auth import ENV_NAME

__all__ = [
    "CircuitBreakerConfig",
    "Config",
    "ConfigError",
    "EngineConfig",
    "ExchangeConfig",
    "JournalConfig",
    "LoggingConfig",
    "MarketDataConfig",
    "MetricsConfig",
    "OrdersConfig",
    "PaperConfig",
    "RedisConfig",
    "ReportsConfig",
    "RetryConfig",
    "RiskConfig",
    "SimConfig",
    "live_mode",
    "load_config",
]

DAY_S = 86400.0
YEAR_S = 365 * DAY_S

# Every number has a finite, documented range: an infinite or absurd timeout passes a bare
# "positive" check and then overflows a socket or timer wait deep inside the engine.
Seconds = Annotated[float, msgspec.Meta(gt=0, le=DAY_S)]
"""A duration: above 0, at most one day."""
SecondsOrZero = Annotated[float, msgspec.Meta(ge=0, le=DAY_S)]
"""A duration that may be 0 (off): at most one day."""
LongSeconds = Annotated[float, msgspec.Meta(ge=0, le=YEAR_S)]
"""A resting order's lifetime: 0 (never) up to one year, as a signal's timeout_s."""
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
"""A count or limit: 1 to a million."""
BasisPoints = Annotated[float, msgspec.Meta(ge=0, le=10_000)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
EnvName = Annotated[str, msgspec.Meta(pattern=f"^{ENV_NAME.pattern}$")]
"""The name of an environment variable (never its value)."""
_Amount = Annotated[str, msgspec.Meta(pattern=r"^\d{1,20}(\.\d{1,18})?$")]
"""A decimal amount as a string: up to 20 digits before the point and 18 after."""
_FeePct = Annotated[str, msgspec.Meta(pattern=r"^\d{1,2}(\.\d{1,8})?$")]


class ConfigError(Exception):
    """A configuration problem, with a one-line message naming the file and key path."""


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ExchangeConfig(_Section, frozen=True):
    mode: Literal["sim", "paper", "kraken"] = "sim"
    rest_url: str = "https://api.kraken.com"
    ws_url: str = "wss://ws.kraken.com/v2"
    ws_auth_url: str = "wss://ws-auth.kraken.com/v2"
    tier: Literal["starter", "intermediate", "pro"] = "starter"
    api_key_env: EnvName = "KRAKEN_API_KEY"
    api_secret_env: EnvName = "KRAKEN_API_SECRET"
    nonce_window: Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)] = 0
    connect_timeout_s: Seconds = 3.05
    read_timeout_s: Seconds = 10.0
    http_workers: Annotated[int, msgspec.Meta(ge=1, le=32)] = 2
    http_client: Literal["stdlib", "requests"] = "stdlib"
    order_entry: Literal["ws", "rest"] = "ws"
    ws_request_timeout_s: Seconds = 5.0
    validate_only: bool = False


class EngineConfig(_Section, frozen=True):
    max_live_orders: Count = 10_000
    actor_stack_kib: Annotated[int, msgspec.Meta(ge=64, le=8192)] = 256
    gc_young_threshold: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 10_000
    dead_man_switch: Literal["auto", "on", "off"] = "auto"
    dead_man_timeout_s: Annotated[int, msgspec.Meta(ge=10, lt=86400)] = 60
    dead_man_refresh_s: Seconds = 20.0
    stream_silence_s: Seconds = 5.0
    on_stop: Literal["cancel", "leave"] = "leave"
    coalesce_batches: bool = True
    status_poll_s: Seconds = 30.0


class OrdersConfig(_Section, frozen=True):
    limit_timeout_s: LongSeconds = 300.0
    poll_interval_s: Seconds = 2.0
    stream_up_poll_interval_s: Seconds = 30.0
    resolve_delay_s: SecondsOrZero = 1.0
    resolve_attempts: Count = 5
    cancel_retry_s: Seconds = 2.0


class RetryConfig(_Section, frozen=True):
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    base_delay_s: Seconds = 0.2
    max_delay_s: Seconds = 10.0


class CircuitBreakerConfig(_Section, frozen=True):
    failure_threshold: Count = 10
    window_s: Seconds = 30.0
    open_s: Seconds = 15.0
    half_open_max_calls: Count = 1


class JournalConfig(_Section, frozen=True):
    enabled: bool = True
    path: str = ""
    synchronous: Literal["normal", "full"] = "normal"


class ReportsConfig(_Section, frozen=True):
    path: str = ""
    stdout: bool = False


class LoggingConfig(_Section, frozen=True):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json: bool = False
    file: str = ""


class SimConfig(_Section, frozen=True):
    host: str = "127.0.0.1"
    rest_port: Port = 0
    ws_port: Port = 0
    tier: Literal["starter", "intermediate", "pro"] = "starter"
    seed: int = 7
    clock: Literal["real", "manual"] = "real"
    step_interval_s: Seconds = 0.25
    volatility_bps: BasisPoints = 5.0
    spread_bps: BasisPoints = 2.0
    liquidity_per_step: Annotated[float, msgspec.Meta(gt=0, le=1e12)] = 1.0
    maker_fee_pct: _FeePct = "0.25"
    taker_fee_pct: _FeePct = "0.40"
    enforce_rate_limits: bool = True
    faults: str = ""
    price_csv: str = ""


class PaperConfig(_Section, frozen=True):
    """Paper trading: the embedded simulator matches orders at prices from a public WS v2 feed."""

    feed_url: str = "wss://ws.kraken.com/v2"
    pairs: list[str] = msgspec.field(default_factory=list)
    event_trigger: Literal["trades", "bbo"] = "bbo"
    liveness_timeout_s: Seconds = 10.0


class MarketDataConfig(_Section, frozen=True):
    enabled: bool | Literal["auto"] = "auto"
    pairs: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=32)]], msgspec.Meta(max_length=256)
    ] = msgspec.field(default_factory=list)
    stale_after_s: Seconds = 10.0
    max_unchanged_s: SecondsOrZero = 0.0
    rest_poll_interval_s: Seconds = 2.0
    event_trigger: Literal["trades", "bbo"] = "bbo"
    volatility_windows_s: Annotated[list[Seconds], msgspec.Meta(max_length=16)] = msgspec.field(
        default_factory=lambda: [60.0, 300.0, 3600.0]
    )
    volatility_sample_s: Seconds = 1.0
    liveness_timeout_s: Seconds = 10.0


_AutoAmount = Annotated[str, msgspec.Meta(pattern=r"^(\d{1,20}(\.\d{1,18})?|auto)$")]

LIVE_RISK_DEFAULTS: dict[str, str] = {
    "market_notional_cap": "5000",
    "max_exposure_per_pair": "25000",
    "max_exposure_total": "50000",
}
"""What ``"auto"`` means for these [risk] keys in the live modes (kraken, paper); "0" in sim."""


class RiskConfig(_Section, frozen=True):
    quantize: bool = False
    price_band_pct: Percent = 0.0
    price_band_vol_units: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 0.0
    band_vol_window: str = "5m"
    market_notional_cap: _AutoAmount = "auto"
    max_exposure_per_pair: _AutoAmount = "auto"
    max_exposure_total: _AutoAmount = "auto"
    max_batch_notional: _Amount = "0"
    max_position_per_pair: _Amount = "0"
    batch_mode: Literal["all_or_nothing", "best_effort"] = "all_or_nothing"
    max_batch_signals: Count = 100


class MetricsConfig(_Section, frozen=True):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: Port = 9464


class RedisConfig(_Section, frozen=True):
    """Scale-out over Redis Streams (``gal-exec run --intake redis://...``); see docs/scale-out.md."""

    url: str = "redis://127.0.0.1:6379/0"
    account: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "default"
    key_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = "galexec"
    group: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "engines"
    read_count: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100
    block_ms: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 500
    claim_idle_s: Seconds = 30.0
    dead_letter_maxlen: Count = 100_000
    reports_maxlen: Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)] = 1_000_000
    reports_max_age_s: SecondsOrZero = 0.0
    publish_batch: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500
    lease_ttl_s: Seconds = 10.0
    lease_renew_s: Seconds = 2.0
    lease_margin_s: SecondsOrZero = 1.0
    on_fence: Literal["exit", "wait"] = "exit"
    journal_dir: str = "var/accounts"
    ready_timeout_s: Seconds = 60.0
    socket_timeout_s: Seconds = 2.0


class Config(_Section, frozen=True):
    exchange: ExchangeConfig = msgspec.field(default_factory=ExchangeConfig)
    engine: EngineConfig = msgspec.field(default_factory=EngineConfig)
    orders: OrdersConfig = msgspec.field(default_factory=OrdersConfig)
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    circuit_breaker: CircuitBreakerConfig = msgspec.field(default_factory=CircuitBreakerConfig)
    journal: JournalConfig = msgspec.field(default_factory=JournalConfig)
    reports: ReportsConfig = msgspec.field(default_factory=ReportsConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    sim: SimConfig = msgspec.field(default_factory=SimConfig)
    market_data: MarketDataConfig = msgspec.field(default_factory=MarketDataConfig)
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    redis: RedisConfig = msgspec.field(default_factory=RedisConfig)
    paper: PaperConfig = msgspec.field(default_factory=PaperConfig)

    def __post_init__(self) -> None:
        # "auto" settings take their meaning from the mode: in the live modes the notional and
        # exposure limits are on, and market data (which they need) follows them.
        live = live_mode(self)
        changes = {
            key: LIVE_RISK_DEFAULTS[key] if live else "0"
            for key in LIVE_RISK_DEFAULTS
            if getattr(self.risk, key) == "auto"
        }
        if changes:
            msgspec.structs.force_setattr(
                self, "risk", msgspec.structs.replace(self.risk, **changes)
            )
        if self.market_data.enabled == "auto":
            enabled = live and _needs_prices(self.risk)
            market = msgspec.structs.replace(self.market_data, enabled=enabled)
            msgspec.structs.force_setattr(self, "market_data", market)


def live_mode(config: Config) -> bool:
    """True in the modes that rehearse or are real trading (kraken, paper), where the protective
    risk defaults apply."""
    return config.exchange.mode in ("kraken", "paper")


def _needs_prices(risk: RiskConfig) -> bool:
    """Whether a [risk] limit that needs market prices is on."""
    return bool(
        risk.price_band_pct
        or risk.price_band_vol_units
        or any(
            Decimal(amount) if amount != "auto" else True
            for amount in (
                risk.market_notional_cap,
                risk.max_exposure_per_pair,
                risk.max_exposure_total,
                risk.max_batch_notional,
            )
        )
    )


_SECRET_KEYS = {"api_key", "api_secret", "secret", "key", "password", "token"}
_PATH_RE = re.compile(r"\s*-\s*at `\$(?P<path>[^`]*)`$")


def _cross_checks(config: Config) -> tuple[str, str] | None:
    """Constraints that span several keys; returns (key path, problem) or None."""
    if config.retry.max_delay_s < config.retry.base_delay_s:
        return "retry.max_delay_s", (
            f"must be at least retry.base_delay_s ({config.retry.base_delay_s}); "
            f"got {config.retry.max_delay_s}"
        )
    if config.engine.dead_man_refresh_s >= config.engine.dead_man_timeout_s:
        return "engine.dead_man_refresh_s", (
            f"must be below engine.dead_man_timeout_s ({config.engine.dead_man_timeout_s}); "
            f"got {config.engine.dead_man_refresh_s}"
        )
    lease = config.redis
    if lease.lease_renew_s * 2 + lease.lease_margin_s >= lease.lease_ttl_s:
        return "redis.lease_renew_s", (
            "must leave room for a retry: lease_renew_s * 2 + lease_margin_s must be below "
            f"lease_ttl_s ({lease.lease_ttl_s}); got {lease.lease_renew_s}"
        )
    if lease.reports_maxlen and lease.reports_max_age_s:
        return "redis.reports_max_age_s", (
            "trim the report stream by length (reports_maxlen) or by age (reports_max_age_s), "
            "not both; set reports_maxlen = 0 to trim by age"
        )
    risk = config.risk
    needs_prices = _needs_prices(risk)
    if needs_prices and not config.market_data.enabled:
        if live_mode(config):
            return "market_data.enabled", (
                f"must be on in exchange.mode = {config.exchange.mode!r}: the risk limits need "
                "prices (set risk.market_notional_cap, risk.max_exposure_per_pair and "
                'risk.max_exposure_total to "0" to trade without them)'
            )
        return "market_data.enabled", (
            "must be true when a [risk] limit that needs prices is set (price band, notional "
            "or exposure limits)"
        )
    if needs_prices and live_mode(config) and not config.market_data.pairs:
        return "market_data.pairs", (
            'list the pairs you trade, e.g. ["XBT/USD"]: the risk limits need their prices '
            f"(exchange.mode = {config.exchange.mode!r})"
        )
    labels = {_window_label(w) for w in config.market_data.volatility_windows_s}
    if risk.price_band_vol_units and risk.band_vol_window not in labels:
        return "risk.band_vol_window", (
            f"must name one of market_data.volatility_windows_s ({', '.join(sorted(labels))}); "
            f"got {risk.band_vol_window!r}"
        )
    return None


def _window_label(seconds: float) -> str:
    """60 -> "1m", 300 -> "5m", 3600 -> "1h", 90 -> "90s" (as gal_exec.core.market labels them)."""
    from gal_exec.core.market import window_label

    return window_label(seconds)


def _describe(error: msgspec.ValidationError) -> tuple[str, str]:
    """Turn msgspec's message into (key path, problem)."""
    text = str(error)
    match = _PATH_RE.search(text)
    path = ""
    if match:
        text = text[: match.start()]
        path = match.group("path").lstrip(".").replace("[", ".").replace("]", "")
    unknown = re.match(r"Object contains unknown field `(?P<field>[^`]+)`", text)
    if unknown:
        field = unknown.group("field")
        path = f"{path}.{field}" if path else field
        return path, "unknown key"
    return path, text[0].lower() + text[1:] if text else "invalid value"


def _literal_choices(path: str) -> tuple[str, ...] | None:
    """The allowed values of a Literal field at ``path``, for a friendlier message."""
    section, _, key = path.partition(".")
    struct = {
        "exchange": ExchangeConfig,
        "engine": EngineConfig,
        "orders": OrdersConfig,
        "retry": RetryConfig,
        "circuit_breaker": CircuitBreakerConfig,
        "journal": JournalConfig,
        "reports": ReportsConfig,
        "logging": LoggingConfig,
        "sim": SimConfig,
        "market_data": MarketDataConfig,
        "risk": RiskConfig,
        "metrics": MetricsConfig,
        "paper": PaperConfig,
    }.get(section)
    if struct is None or not key:
        return None
    info = msgspec.inspect.type_info(struct)
    if not isinstance(info, msgspec.inspect.StructType):
        return None
    for field in info.fields:
        if field.name == key and isinstance(field.type, msgspec.inspect.LiteralType):
            return tuple(str(v) for v in typing.get_args(typing.get_type_hints(struct)[key]))
    return None


_TYPE_WORDS = {
    "`float`": "a number",
    "`int`": "an integer",
    "`str`": "a string",
    "`bool`": "true or false",
    "`object`": "a table",
    "`array`": "a list",
}
_BOUND_WORDS = {" <= ": " at most ", " >= ": " at least ", " < ": " below ", " > ": " above "}
# Keys whose values are never echoed: a secret pasted by mistake into a name field stays unseen.
_NEVER_SHOWN = {"exchange.api_key_env", "exchange.api_secret_env"}


def _plain_types(problem: str, path: str) -> str:
    if "matching regex" in problem:
        if path in _NEVER_SHOWN:
            return "expected the name of an environment variable, like KRAKEN_API_SECRET"
        shape = 'expected a decimal number as a string, like "0.25" (up to 20 digits, 18 decimals)'
        return shape + ', or "auto"' if "auto" in problem else shape
    for word, plain in _TYPE_WORDS.items():
        problem = problem.replace(word, plain)
    for word, plain in _BOUND_WORDS.items():
        problem = problem.replace(word, plain)
    return re.sub(r"(\d)\.0\b", r"\1", problem)  # "at most 86400", not 86400.0


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON would say null
    try:
        return excerpt(msgspec.json.encode(value).decode())
    except TypeError:
        return excerpt(repr(value))


def _lookup(raw: dict[str, Any], path: str) -> Any:
    node: Any = raw
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def decode_config(raw: dict[str, Any], *, source: str = "config.toml") -> Config:
    """Decode an already-parsed TOML document into a Config, raising a one-line ConfigError."""
    try:
        config = msgspec.convert(raw, Config, strict=True)
    except msgspec.ValidationError as exc:
        path, problem = _describe(exc)
        if problem != "unknown key":
            got = _lookup(raw, path)
            shown = _show(got)
            choices = _literal_choices(path)
            if path in _NEVER_SHOWN and got == "":
                problem = "is empty; it must name the environment variable that holds the value"
            elif path in _NEVER_SHOWN and isinstance(got, str):
                problem = (
                    "holds something that is not an environment variable name (not shown: it "
                    "may be a secret); it must name the variable that holds the value, like "
                    "KRAKEN_API_SECRET"
                )
            elif choices is not None:
                problem = f"expected one of {', '.join(choices)}; got {shown}"
            else:
                problem = _plain_types(problem.split(", got ")[0], path) + f"; got {shown}"
        where = f"{source}: {path}: " if path else f"{source}: "
        raise ConfigError(where + problem) from None
    cross = _cross_checks(config)
    if cross is not None:
        raise ConfigError(f"{source}: {cross[0]}: {cross[1]}")
    return config


def load_config(path: str | Path | None = None) -> Config:
    """Load the configuration at ``path``, or ./config.toml when ``path`` is None.

    With ``path`` None a missing ./config.toml gives the defaults; an explicitly named file must
    exist (a mistyped ``--config`` must not silently run with defaults, which have no risk
    limits). An empty file gives the defaults. Every problem (unreadable, a directory, not
    TOML, nested too deeply, a bad value) raises ConfigError with one line naming the file.
    """
    explicit = path is not None
    path = Path("config.toml") if path is None else Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{source}: no such file") from None
        return Config()
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a directory, not a configuration file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start + 1})") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid TOML: nested too deeply") from None
    for section, values in raw.items():
        if isinstance(values, dict):
            leaked = _SECRET_KEYS.intersection(values)
            if leaked:
                key = sorted(leaked)[0]
                raise ConfigError(
                    f"{source}: {section}.{key}: secrets are never read from the config file; "
                    "put them in the environment variables named by exchange.api_key_env and "
                    "exchange.api_secret_env"
                )
    try:
        return decode_config(raw, source=source)
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply") from None
