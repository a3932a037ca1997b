"""The simulator's order: its model, Kraken's price expressions, and AddOrder's validation.

``parse_order`` turns AddOrder parameters (REST names) into a ``SimOrder`` or raises the SimError
Kraken would answer. Relative prices (``+``/``-``/``#`` prefix, ``%`` suffix) are resolved against
the last traded price; ``#`` picks the direction that keeps the order from executing at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from gal_exec.core.vocabulary import is_valid_cl_ord_id
from gal_exec.sim import errors
from gal_exec.sim.errors import SimError, invalid_arguments
from gal_exec.sim.pairs import PairSpec
from gal_exec.sim.params import (
    INT32,
    decimal_places,
    get_bool,
    get_decimal,
    get_int,
    get_text,
    get_time,
    parse_rfc3339,
)

__all__ = [
    "CLOSE_TYPES",
    "ORDER_TYPES",
    "TRIGGER_TYPES",
    "CloseSpec",
    "PriceExpr",
    "SimOrder",
    "parse_order",
    "parse_price",
]

ORDER_TYPES = frozenset(
    {
        "market",
        "limit",
        "iceberg",
        "stop-loss",
        "take-profit",
        "stop-loss-limit",
        "take-profit-limit",
        "trailing-stop",
        "trailing-stop-limit",
    }
)
TRIGGER_TYPES = frozenset(
    {
        "stop-loss",
        "take-profit",
        "stop-loss-limit",
        "take-profit-limit",
        "trailing-stop",
        "trailing-stop-limit",
    }
)
LIMIT_AFTER_TRIGGER = frozenset({"stop-loss-limit", "take-profit-limit", "trailing-stop-limit"})
TRAILING = frozenset({"trailing-stop", "trailing-stop-limit"})
CLOSE_TYPES = ORDER_TYPES - {"market"}
_OFLAGS = frozenset({"post", "fcib", "fciq", "nompp", "viqc"})
_STP = frozenset({"cancel-newest", "cancel-oldest", "cancel-both"})
_MAX_EXPIRY_S = 31 * 86400
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class PriceExpr:
    """A price as sent: absolute (``sign == ""``) or an offset (``+``/``-``/``#``, maybe ``%``)."""

    sign: str
    amount: Decimal
    percent: bool

    @property
    def relative(self) -> bool:
        return self.sign != ""

    def offset(self, reference: Decimal) -> Decimal:
        return self.amount * reference / _HUNDRED if self.percent else self.amount

    def resolve(self, reference: Decimal, natural: int) -> Decimal:
        """The absolute price; ``natural`` (+1/-1) is the direction ``#`` stands for."""
        if not self.relative:
            return self.amount
        direction = 1 if self.sign == "+" else -1 if self.sign == "-" else natural
        return reference + direction * self.offset(reference)

    def text(self, pair: PairSpec) -> str:
        """Kraken's rendering in ``descr``: ``30010.0``, ``+50.0000%``, ``-12.5``."""
        if self.percent:
            return f"{self.sign}{self.amount.quantize(Decimal('0.0001'))}%"
        return f"{self.sign}{pair.price_str(self.amount)}"


def parse_price(value: Any, name: str) -> PriceExpr:
    """Parse a price parameter; Invalid arguments:<name> when malformed."""
    raw = str(value)
    text = raw.strip()
    # A "+" sent unencoded in a form body arrives as a space: read it as the "+" it was.
    sign = "+" if raw[:1] == " " and text[:1].isdigit() else ""
    if text[:1] in ("+", "-", "#"):
        sign, text = text[0], text[1:]
    percent = text.endswith("%")
    if percent:
        text = text[:-1]
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise invalid_arguments(name) from None
    if not amount.is_finite() or amount < 0 or (amount == 0 and not sign):
        raise invalid_arguments(name)
    if percent and not sign:
        raise invalid_arguments(name)
    return PriceExpr(sign, amount, percent)


@dataclass(frozen=True, slots=True)
class CloseSpec:
    """A conditional close template (``close[ordertype]``, ``close[price]``, ``close[price2]``)."""

    ordertype: str
    price: PriceExpr
    price2: PriceExpr | None


@dataclass(slots=True, eq=False)
class SimOrder:
    """One order and its running state; the exchange lock guards every field."""

    txid: str
    api_key: str
    pair: PairSpec
    side: str
    ordertype: str
    volume: Decimal
    price: Decimal | None = None
    price2: Decimal | None = None
    price_expr: PriceExpr | None = None
    price2_expr: PriceExpr | None = None
    oflags: tuple[str, ...] = ()
    timeinforce: str = "GTC"
    starttm: float = 0.0
    expiretm: float = 0.0
    userref: int | None = None
    cl_ord_id: str | None = None
    trigger_ref: str = "last"
    close: CloseSpec | None = None
    refid: str | None = None
    display_volume: Decimal | None = None
    source: str = "rest"
    status: str = "pending"
    reason: str | None = None
    opentm: float = 0.0
    closetm: float = 0.0
    vol_exec: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    fee_usd: Decimal = Decimal(0)
    triggered: bool = False
    stopprice: Decimal = Decimal(0)
    limitprice: Decimal = Decimal(0)
    peak: Decimal = Decimal(0)
    crossing: bool = False
    amended: bool = False
    misc: list[str] = field(default_factory=list)
    trade_ids: list[str] = field(default_factory=list)
    held: Decimal = Decimal(0)
    hold_asset: str = ""
    changed_at: float = 0.0

    @property
    def buy(self) -> bool:
        return self.side == "buy"

    @property
    def remaining(self) -> Decimal:
        return self.volume - self.vol_exec

    @property
    def is_open(self) -> bool:
        return self.status in ("pending", "open")

    @property
    def post_only(self) -> bool:
        return "post" in self.oflags

    @property
    def fee_in_base(self) -> bool:
        return "fcib" in self.oflags

    @property
    def waiting_trigger(self) -> bool:
        return self.ordertype in TRIGGER_TYPES and not self.triggered

    def limit(self) -> Decimal | None:
        """The limit price orders match against now (None: a market order, or not triggered)."""
        if self.ordertype in ("limit", "iceberg"):
            return self.price
        if self.ordertype in LIMIT_AFTER_TRIGGER and self.triggered:
            return self.limitprice
        return None

    def flags_text(self) -> str:
        flags = [flag for flag in self.oflags if flag not in ("fcib", "fciq")]
        flags.append("fcib" if self.fee_in_base else "fciq")
        return ",".join(flags)


def natural_direction(ordertype: str, side: str) -> int:
    """What ``#`` means for a trigger or limit price: away from executing at once."""
    buy = side == "buy"
    if ordertype.startswith("stop-loss") or ordertype in TRAILING:
        return 1 if buy else -1
    return -1 if buy else 1


def _absolute(pair: PairSpec, expr: PriceExpr, name: str, reference: Decimal, natural: int):
    if not expr.relative:
        if not pair.on_tick(expr.amount):
            raise SimError(errors.TICK_SIZE)
        return expr.amount
    price = pair.round_price(expr.resolve(reference, natural))
    if price <= 0:
        raise invalid_arguments(name)
    return price


def parse_order(
    params: Mapping[str, Any],
    *,
    pair: PairSpec,
    api_key: str,
    last: Decimal,
    now: float,
    touch: Decimal,
) -> SimOrder:
    """Validate AddOrder parameters into an unplaced order (no txid yet), or raise SimError."""
    side = get_text(params, "type")
    if side not in ("buy", "sell"):
        raise invalid_arguments("type")
    ordertype = get_text(params, "ordertype")
    if ordertype not in ORDER_TYPES:
        raise invalid_arguments("ordertype")
    volume = get_decimal(params, "volume")
    if volume is None or volume <= 0:
        raise invalid_arguments("volume")
    if decimal_places(volume) > pair.lot_decimals:
        raise invalid_arguments("volume")
    order = SimOrder(
        txid="", api_key=api_key, pair=pair, side=side, ordertype=ordertype, volume=volume
    )
    natural = natural_direction(ordertype, side)
    price_value = get_text(params, "price")
    if ordertype != "market":
        if price_value is None:
            raise invalid_arguments("price")
        order.price_expr = parse_price(params["price"], "price")
        if ordertype in TRAILING:
            if order.price_expr.sign != "+":
                raise invalid_arguments("price")
        else:
            order.price = _absolute(pair, order.price_expr, "price", last, natural)
    if ordertype in LIMIT_AFTER_TRIGGER:
        if get_text(params, "price2") is None:
            raise invalid_arguments("price2")
        order.price2_expr = parse_price(params["price2"], "price2")
        if ordertype in TRAILING:
            if order.price2_expr.sign not in ("+", "-"):
                raise invalid_arguments("price2")
        else:
            order.price2 = _absolute(
                pair, order.price2_expr, "price2", last, 1 if side == "buy" else -1
            )
    _parse_flags(order, params)
    _parse_timing(order, params, now)
    _parse_identity(order, params)
    _parse_close(order, params)
    trigger = get_text(params, "trigger") or "last"
    if trigger not in ("last", "index"):
        raise invalid_arguments("trigger")
    order.trigger_ref = trigger
    leverage = get_text(params, "leverage")
    if leverage is not None and leverage.lower() != "none":
        raise SimError(errors.CANNOT_OPEN_POSITION)
    get_bool(params, "reduce_only")
    stptype = get_text(params, "stptype")
    if stptype is not None and stptype not in _STP:
        raise invalid_arguments("stptype")
    if ordertype == "iceberg":
        display = get_decimal(params, "displayvol")
        if display is None or display <= 0 or display * 15 < volume:
            raise invalid_arguments("displayvol")
        order.display_volume = display
    deadline = get_text(params, "deadline")
    if deadline is not None:
        try:
            moment = parse_rfc3339(deadline)
        except ValueError:
            raise invalid_arguments("deadline") from None
        if moment < now:
            raise SimError(errors.DEADLINE_ELAPSED)
        if moment > now + 60:
            raise invalid_arguments("deadline")
    if volume < pair.ordermin:
        raise SimError(errors.ORDER_MINIMUM)
    reference = order.price2 if order.price2 is not None else order.price
    if reference is None or ordertype in TRAILING:
        reference = touch
    if volume * reference < pair.costmin:
        raise SimError(errors.COST_MINIMUM)
    return order


def _parse_flags(order: SimOrder, params: Mapping[str, Any]) -> None:
    text = get_text(params, "oflags")
    flags = tuple(flag.strip() for flag in text.split(",") if flag.strip()) if text else ()
    if any(flag not in _OFLAGS for flag in flags) or "viqc" in flags:
        raise invalid_arguments("oflags")
    if "fcib" in flags and "fciq" in flags:
        raise invalid_arguments("oflags")
    if "post" in flags and order.ordertype not in ("limit", "iceberg"):
        raise invalid_arguments("oflags")
    order.oflags = flags


def _parse_timing(order: SimOrder, params: Mapping[str, Any], now: float) -> None:
    tif = (get_text(params, "timeinforce") or "GTC").upper()
    if tif not in ("GTC", "IOC", "GTD", "FOK"):
        raise invalid_arguments("timeinforce")
    if tif == "FOK" and order.ordertype != "limit":
        raise invalid_arguments("timeinforce")
    if tif == "IOC" and order.ordertype not in ("limit", "market", "iceberg"):
        raise invalid_arguments("timeinforce")
    order.starttm = get_time(params, "starttm", now)
    expire_text = get_text(params, "expiretm")
    expiretm = get_time(params, "expiretm", now)
    if expiretm:
        relative = expire_text is not None and expire_text.startswith("+")
        if (relative and expiretm - now < 5) or expiretm <= now:
            raise invalid_arguments("expiretm")
        if expiretm - now > _MAX_EXPIRY_S or tif in ("IOC", "FOK"):
            raise invalid_arguments("expiretm")
        tif = "GTD"
    elif tif == "GTD":
        raise invalid_arguments("expiretm")
    order.timeinforce = tif
    order.expiretm = expiretm


def _parse_identity(order: SimOrder, params: Mapping[str, Any]) -> None:
    order.userref = get_int(params, "userref", INT32)
    cl_ord_id = get_text(params, "cl_ord_id")
    if cl_ord_id is not None:
        if order.userref is not None or not is_valid_cl_ord_id(cl_ord_id):
            raise invalid_arguments("cl_ord_id")
        order.cl_ord_id = cl_ord_id


def _parse_close(order: SimOrder, params: Mapping[str, Any]) -> None:
    nested = params.get("close")
    source = (
        nested
        if isinstance(nested, Mapping)
        else {
            key[6:-1]: value
            for key, value in params.items()
            if key.startswith("close[") and key.endswith("]")
        }
    )
    close_type = get_text(source, "ordertype")
    if close_type is None:
        if any(get_text(source, name) for name in ("price", "price2")):
            raise invalid_arguments("close[ordertype]")
        return
    if close_type not in CLOSE_TYPES:
        raise invalid_arguments("close[ordertype]")
    if order.cl_ord_id is not None:
        # Kraken refuses a client order id on an order with a conditional close (FACTS 2.1).
        raise invalid_arguments("cl_ord_id")
    if get_text(source, "price") is None:
        raise invalid_arguments("close[price]")
    price = parse_price(source["price"], "close[price]")
    price2 = None
    if close_type in LIMIT_AFTER_TRIGGER:
        if get_text(source, "price2") is None:
            raise invalid_arguments("close[price2]")
        price2 = parse_price(source["price2"], "close[price2]")
    for expr in (price, price2):
        if expr is not None and not expr.relative and not order.pair.on_tick(expr.amount):
            raise SimError(errors.TICK_SIZE)
    order.close = CloseSpec(close_type, price, price2)
