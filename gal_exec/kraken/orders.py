"""AddOrder parameters as a typed Struct, encoded to Kraken's form fields.

Decimals are written in plain notation (``format(d, "f")``: ``0.00000001``, never ``1E-8``).
A price may instead be a :class:`RelativePrice` (``+50%``, ``-10``, ``#5``), as trailing stops
require.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

import msgspec

from gal_exec.core.clock import Clock
from gal_exec.core.vocabulary import is_valid_cl_ord_id

__all__ = [
    "OrderRequest",
    "RelativePrice",
    "deadline_after",
    "format_decimal",
]


def format_decimal(value: Decimal) -> str:
    """``value`` in plain notation, as Kraken expects; refuses NaN and infinities."""
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"cannot send a non-finite number ({value})")
    return format(value, "f")


def deadline_after(clock: Clock, seconds: float) -> str:
    """An RFC3339 ``deadline`` ``seconds`` from now (Kraken REST accepts 2 to 60 s ahead)."""
    moment = datetime.fromtimestamp(clock.time() + seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RelativePrice(msgspec.Struct, frozen=True, kw_only=True):
    """A price relative to the market: ``+``/``-`` offset from the last price, ``#`` either way
    (Kraken picks the direction), optionally in percent. For a trailing-stop-limit ``price2`` it
    is relative to the trigger.
    """

    offset: Decimal
    sign: Literal["+", "-", "#"] = "+"
    percent: bool = False

    def __str__(self) -> str:
        if self.offset < 0:
            raise ValueError("a relative price's offset is positive; use sign='-' to go below")
        return f"{self.sign}{format_decimal(self.offset)}{'%' if self.percent else ''}"


def _price_text(value: Decimal | RelativePrice) -> str:
    return str(value) if isinstance(value, RelativePrice) else format_decimal(value)


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One AddOrder request. ``price`` is the limit price for limit/iceberg and the trigger price
    for stop and take-profit types; ``price2`` the limit price of the ``*-limit`` types.
    ``close_*`` set a conditional close. ``validate`` and ``deadline`` are per request (in a batch
    they are set on the batch).
    """

    pair: str
    type: Literal["buy", "sell"]
    ordertype: str
    volume: Decimal
    price: Decimal | RelativePrice | None = None
    price2: Decimal | RelativePrice | None = None
    displayvol: Decimal | None = None
    trigger: Literal["last", "index"] | None = None
    leverage: str | None = None
    reduce_only: bool = False
    stptype: str | None = None
    oflags: tuple[str, ...] = ()
    timeinforce: str | None = None
    starttm: int | str | None = None
    expiretm: int | str | None = None
    cl_ord_id: str | None = None
    userref: int | None = None
    close_ordertype: str | None = None
    close_price: Decimal | RelativePrice | None = None
    close_price2: Decimal | RelativePrice | None = None
    validate: bool = False
    deadline: str | None = None

    def check(self) -> None:
        """Raise ValueError for combinations Kraken documents as invalid."""
        if self.cl_ord_id is not None and self.userref is not None:
            raise ValueError("cl_ord_id and userref are mutually exclusive")
        if self.cl_ord_id is not None and not is_valid_cl_ord_id(self.cl_ord_id):
            raise ValueError(
                f"cl_ord_id {self.cl_ord_id!r} is not a UUID, a 32-hex id or 1-18 ASCII characters"
            )
        if self.userref is not None and not -(2**31) <= self.userref < 2**31:
            raise ValueError("userref must fit in a signed 32-bit integer")
        if self.timeinforce is not None and self.timeinforce.upper() == "GTD" and not self.expiretm:
            raise ValueError("timeinforce GTD needs expiretm")
        if self.close_ordertype is None and (
            self.close_price is not None or self.close_price2 is not None
        ):
            raise ValueError("close prices need close_ordertype")
        if "fcib" in self.oflags and "fciq" in self.oflags:
            raise ValueError("oflags fcib and fciq are mutually exclusive")

    def _order_fields(self) -> list[tuple[str, str]]:
        fields: list[tuple[str, str]] = [
            ("type", self.type),
            ("ordertype", self.ordertype),
            ("volume", format_decimal(self.volume)),
        ]
        if self.price is not None:
            fields.append(("price", _price_text(self.price)))
        if self.price2 is not None:
            fields.append(("price2", _price_text(self.price2)))
        if self.displayvol is not None:
            fields.append(("displayvol", format_decimal(self.displayvol)))
        optional_text = (
            ("trigger", self.trigger),
            ("leverage", self.leverage),
            ("stptype", self.stptype),
            ("timeinforce", self.timeinforce),
            ("cl_ord_id", self.cl_ord_id),
        )
        fields.extend((key, value) for key, value in optional_text if value is not None)
        if self.reduce_only:
            fields.append(("reduce_only", "true"))
        if self.oflags:
            fields.append(("oflags", ",".join(self.oflags)))
        for key, moment in (("starttm", self.starttm), ("expiretm", self.expiretm)):
            if moment is not None:
                fields.append((key, str(moment)))
        if self.userref is not None:
            fields.append(("userref", str(self.userref)))
        return fields

    def _close_fields(self) -> list[tuple[str, str]]:
        if self.close_ordertype is None:
            return []
        fields = [("ordertype", self.close_ordertype)]
        if self.close_price is not None:
            fields.append(("price", _price_text(self.close_price)))
        if self.close_price2 is not None:
            fields.append(("price2", _price_text(self.close_price2)))
        return fields

    def to_params(self) -> dict[str, str]:
        """AddOrder form fields (without the nonce), in a stable order."""
        self.check()
        params = {"pair": self.pair, **dict(self._order_fields())}
        params.update({f"close[{key}]": value for key, value in self._close_fields()})
        if self.validate:
            params["validate"] = "true"
        if self.deadline is not None:
            params["deadline"] = self.deadline
        return params

    def to_batch_params(self, index: int) -> dict[str, str]:
        """This order's fields inside AddOrderBatch: ``orders[<index>][<field>]`` (no pair)."""
        self.check()
        if self.validate or self.deadline is not None:
            raise ValueError("set validate and deadline on the batch, not on an order in it")
        prefix = f"orders[{index}]"
        params = {f"{prefix}[{key}]": value for key, value in self._order_fields()}
        params.update({f"{prefix}[close][{key}]": value for key, value in self._close_fields()})
        return params
