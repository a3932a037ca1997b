"""Kraken's error strings as the simulator answers them, and the exception that carries one.

Strings documented by Kraken are used verbatim. Where Kraken's wording is not documented (see
FACTS.md section 7) the simulator picks one and names it here, so a single edit changes it.
"""

from __future__ import annotations

__all__ = ["SimError", "invalid_arguments"]

INVALID_KEY = "EAPI:Invalid key"
INVALID_SIGNATURE = "EAPI:Invalid signature"
INVALID_NONCE = "EAPI:Invalid nonce"
API_RATE_LIMIT = "EAPI:Rate limit exceeded"
UNKNOWN_METHOD = "EGeneral:Unknown method"
INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
SERVICE_UNAVAILABLE = "EService:Unavailable"
DEADLINE_ELAPSED = "EService:Deadline elapsed"
CANCEL_ONLY = "EService:Market in cancel_only mode"
POST_ONLY_MODE = "EService:Market in post_only mode"
UNKNOWN_PAIR = "EQuery:Unknown asset pair"
INSUFFICIENT_FUNDS = "EOrder:Insufficient funds"
ORDER_MINIMUM = "EOrder:Order minimum not met"
COST_MINIMUM = "EOrder:Cost minimum not met"
TICK_SIZE = "EOrder:Tick size check failed"
ORDERS_LIMIT = "EOrder:Orders limit exceeded"
TRADING_RATE_LIMIT = "EOrder:Rate limit exceeded"
UNKNOWN_ORDER = "EOrder:Unknown order"
INVALID_ORDER = "EOrder:Invalid order"
CANNOT_OPEN_POSITION = "EOrder:Cannot open position"
# Undocumented wording (FACTS.md section 7, item 4): the string a third-party test uses.
DUPLICATE_CL_ORD_ID = "EOrder:Duplicate client order id"
# Undocumented: answer to an AmendOrder with post_only whose new price would take.
POST_ONLY_AMEND = "EOrder:Post only order"

# Reasons on cancelled / expired orders (REST `reason`, WS `reason`).
REASON_USER = "User requested"
REASON_POST_ONLY = "Post only order"
REASON_IOC = "Immediate or cancel"
REASON_FOK = "Fill or kill"
REASON_DEAD_MAN = "Dead man's switch"
REASON_EXPIRED = "Order expired"
REASON_AMEND_QTY = "Order quantity amended below executed quantity"


class SimError(Exception):
    """A Kraken error string, e.g. ``SimError("EOrder:Insufficient funds")``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def invalid_arguments(field: str) -> SimError:
    """``EGeneral:Invalid arguments:<field>``, Kraken's answer to a malformed parameter."""
    return SimError(f"{INVALID_ARGUMENTS}:{field}")
