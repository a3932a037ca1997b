"""API key permissions: which private method each needs, and GetApiKeyInfo's answer.

Kraken asks for permissions when a key is created and refuses a call the key may not make with
``EGeneral:Permission denied`` (docs.kraken.com, "API key permissions"). GetApiKeyInfo needs no
permission and lists the key's permissions as strings. Kraken's example answer shows
``query-funds``, ``withdraw-funds``, ``query-open-trades`` and ``modify-trades``; the other names
below follow the same pattern and are the simulator's spelling (Kraken's full list is not in the
sources at hand).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "ALL_PERMISSIONS",
    "PERMISSION_DENIED",
    "TRADING_PERMISSIONS",
    "api_key_info",
    "check_permissions",
    "required_permission",
]

PERMISSION_DENIED = "EGeneral:Permission denied"

QUERY_FUNDS = "query-funds"
DEPOSIT_FUNDS = "deposit-funds"
WITHDRAW_FUNDS = "withdraw-funds"
QUERY_OPEN = "query-open-trades"
QUERY_CLOSED = "query-closed-trades"
MODIFY = "modify-trades"
CANCEL = "cancel-close-trades"
QUERY_LEDGER = "query-ledger"
EXPORT_DATA = "export-data"
WEBSOCKET = "access-websocket"

TRADING_PERMISSIONS: tuple[str, ...] = (
    QUERY_FUNDS,
    QUERY_OPEN,
    QUERY_CLOSED,
    MODIFY,
    CANCEL,
    WEBSOCKET,
)
"""What an execution engine needs, and nothing more: the demo key's permissions."""

ALL_PERMISSIONS: tuple[str, ...] = (
    QUERY_FUNDS,
    DEPOSIT_FUNDS,
    WITHDRAW_FUNDS,
    QUERY_OPEN,
    QUERY_CLOSED,
    MODIFY,
    CANCEL,
    QUERY_LEDGER,
    EXPORT_DATA,
    WEBSOCKET,
)

# Kraken's table "Permission descriptions": the methods each permission enables.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "Balance": (QUERY_FUNDS,),
    "BalanceEx": (QUERY_FUNDS,),
    "OpenOrders": (QUERY_OPEN,),
    "ClosedOrders": (QUERY_CLOSED,),
    # QueryOrders, TradesHistory and QueryTrades are enabled by either query permission.
    "QueryOrders": (QUERY_OPEN, QUERY_CLOSED),
    "TradesHistory": (QUERY_OPEN, QUERY_CLOSED),
    "QueryTrades": (QUERY_OPEN, QUERY_CLOSED),
    "AddOrder": (MODIFY,),
    "AddOrderBatch": (MODIFY,),
    "AmendOrder": (MODIFY,),
    "EditOrder": (MODIFY,),
    "CancelOrder": (CANCEL,),
    "CancelOrderBatch": (CANCEL,),
    "CancelAll": (CANCEL,),
    "CancelAllOrdersAfter": (CANCEL,),
    "GetWebSocketsToken": (WEBSOCKET,),
}

# WebSocket v2 trading methods and the REST method whose permission they need.
_WS_METHODS = {
    "add_order": "AddOrder",
    "batch_add": "AddOrderBatch",
    "amend_order": "AmendOrder",
    "edit_order": "EditOrder",
    "cancel_order": "CancelOrder",
    "batch_cancel": "CancelOrderBatch",
    "cancel_all": "CancelAll",
    "cancel_all_orders_after": "CancelAllOrdersAfter",
}


def required_permission(method: str) -> tuple[str, ...]:
    """The permissions of which a key needs one to call ``method`` (REST name or WS v2 method);
    empty when the method needs none (GetApiKeyInfo)."""
    return _REQUIRED.get(_WS_METHODS.get(method, method), ())


def check_permissions(held: Iterable[str], method: str) -> bool:
    """True when a key holding ``held`` may call ``method``."""
    needed = required_permission(method)
    return not needed or any(name in held for name in needed)


def api_key_info(
    *,
    api_key: str,
    name: str,
    permissions: Iterable[str],
    nonce: int,
    nonce_window: int,
    created: float,
    last_used: float,
) -> dict[str, Any]:
    """GetApiKeyInfo's ``result``, in Kraken's documented shape (times as strings of epoch
    seconds, ``"0"`` for unset limits)."""
    return {
        "apiKeyName": name,
        "apiKey": api_key,
        "nonce": str(nonce),
        "nonceWindow": nonce_window,
        "permissions": list(permissions),
        "iban": "",
        "validUntil": "0",
        "queryFrom": "0",
        "queryTo": "0",
        "createdTime": str(int(created)),
        "modifiedTime": str(int(created)),
        "ipAllowlist": [],
        "lastUsed": str(int(last_used)),
    }
