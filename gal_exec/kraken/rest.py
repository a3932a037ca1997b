"""A blocking Kraken REST client: signed form-encoded private calls, typed results, typed errors.

Two layers: :meth:`KrakenRestClient.private` / :meth:`KrakenRestClient.public` send one request
and return the raw body (for gateway workers that time and classify calls themselves), and one
method per endpoint that also decodes the reply into its Struct. Failures raise
:class:`KrakenAPIError` (Kraken said no), :class:`TransportError` (the request may not have
arrived, or the reply was lost) or :class:`MalformedResponse`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from gal_exec.kraken._transport import Params, RestTransport
from gal_exec.kraken.codec import (
    AddOrderBatchResult,
    AddOrderResult,
    AmendOrderResult,
    ApiKeyInfo,
    AssetInfo,
    AssetPairInfo,
    BalanceExEntry,
    CancelAllOrdersAfterResult,
    CancelOrderBatchResult,
    CancelOrderResult,
    ClosedOrdersResult,
    OpenOrdersResult,
    OrderInfo,
    ServerTime,
    SystemStatus,
    TickerInfo,
    TradeInfo,
    TradesHistoryResult,
    WebSocketsToken,
)
from gal_exec.kraken.orders import OrderRequest, RelativePrice, format_decimal

__all__ = ["KrakenRestClient", "Params"]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _price(value: Decimal | RelativePrice) -> str:
    return str(value) if isinstance(value, RelativePrice) else format_decimal(value)


class KrakenRestClient(RestTransport):
    """Kraken's REST endpoints as typed methods; see :class:`RestTransport` for the options
    (``base_url``, ``credentials``, ``nonce``, ``clock``, timeouts, ``nonce_window``, ``session``,
    ``verify``) and for the raw ``private`` / ``public`` calls.
    """

    # --- order entry --------------------------------------------------------------------------

    def add_order(self, order: OrderRequest) -> AddOrderResult:
        """Place one order. Not idempotent: on an unclear failure, reconcile by cl_ord_id."""
        return self._call("AddOrder", AddOrderResult, order.to_params())

    def add_order_batch(
        self,
        orders: Sequence[OrderRequest],
        *,
        deadline: str | None = None,
        validate: bool = False,
    ) -> AddOrderBatchResult:
        """Place 2 to 15 orders on one pair; entries come back in request order."""
        if not 2 <= len(orders) <= 15:
            raise ValueError(f"a batch holds 2 to 15 orders, got {len(orders)}")
        pairs = {order.pair for order in orders}
        if len(pairs) != 1:
            raise ValueError(f"all orders in a batch must be for one pair, got {sorted(pairs)}")
        params: dict[str, str] = {"pair": orders[0].pair}
        for index, order in enumerate(orders):
            params.update(order.to_batch_params(index))
        if deadline is not None:
            params["deadline"] = deadline
        if validate:
            params["validate"] = "true"
        return self._call("AddOrderBatch", AddOrderBatchResult, params)

    def amend_order(
        self,
        *,
        txid: str | None = None,
        cl_ord_id: str | None = None,
        order_qty: Decimal | None = None,
        display_qty: Decimal | None = None,
        limit_price: Decimal | RelativePrice | None = None,
        trigger_price: Decimal | RelativePrice | None = None,
        post_only: bool | None = None,
        deadline: str | None = None,
        pair: str | None = None,
    ) -> AmendOrderResult:
        """Amend an order in place (same ids), by ``txid`` or ``cl_ord_id``."""
        params = self._one_id(txid=txid, cl_ord_id=cl_ord_id)
        if order_qty is not None:
            params["order_qty"] = format_decimal(order_qty)
        if display_qty is not None:
            params["display_qty"] = format_decimal(display_qty)
        if limit_price is not None:
            params["limit_price"] = _price(limit_price)
        if trigger_price is not None:
            params["trigger_price"] = _price(trigger_price)
        if post_only is not None:
            params["post_only"] = _flag(post_only)
        if deadline is not None:
            params["deadline"] = deadline
        if pair is not None:
            params["pair"] = pair
        return self._call("AmendOrder", AmendOrderResult, params)

    def cancel_order(
        self, *, txid: str | int | None = None, cl_ord_id: str | None = None
    ) -> CancelOrderResult:
        """Cancel by ``txid`` (an int is a userref and may match several orders) or ``cl_ord_id``."""
        return self._call("CancelOrder", CancelOrderResult, self._one_id(txid, cl_ord_id))

    def cancel_order_batch(
        self, txids: Sequence[str | int] = (), cl_ord_ids: Sequence[str] = ()
    ) -> CancelOrderBatchResult:
        """Cancel up to 50 orders by txid/userref and cl_ord_id, sent as ``orders[i]=<txid>``
        and ``cl_ord_ids[i]=<id>``.
        """
        total = len(txids) + len(cl_ord_ids)
        if not 1 <= total <= 50:
            raise ValueError(f"a batch cancel takes 1 to 50 ids, got {total}")
        params = [(f"orders[{index}]", str(txid)) for index, txid in enumerate(txids)]
        params += [(f"cl_ord_ids[{index}]", value) for index, value in enumerate(cl_ord_ids)]
        return self._call("CancelOrderBatch", CancelOrderBatchResult, params)

    def cancel_all(self) -> CancelOrderResult:
        """Cancel every open order, including untriggered ones."""
        return self._call("CancelAll", CancelOrderResult)

    def cancel_all_orders_after(self, timeout: int) -> CancelAllOrdersAfterResult:
        """Arm (or push back) the dead man's switch for ``timeout`` seconds; 0 disarms it."""
        if not 0 <= timeout < 86400:
            raise ValueError(f"timeout must be 0 to 86399 seconds, got {timeout}")
        return self._call(
            "CancelAllOrdersAfter", CancelAllOrdersAfterResult, {"timeout": str(int(timeout))}
        )

    @staticmethod
    def _one_id(txid: str | int | None, cl_ord_id: str | None) -> dict[str, str]:
        if (txid is None) == (cl_ord_id is None):
            raise ValueError("give exactly one of txid and cl_ord_id")
        return {"txid": str(txid)} if txid is not None else {"cl_ord_id": str(cl_ord_id)}

    # --- queries ------------------------------------------------------------------------------

    def query_orders(
        self, txids: Sequence[str], *, trades: bool = False, userref: int | None = None
    ) -> dict[str, OrderInfo]:
        """Orders by txid, at most 50 per call."""
        if not 1 <= len(txids) <= 50:
            raise ValueError(f"QueryOrders takes 1 to 50 txids, got {len(txids)}")
        params = {"txid": ",".join(txids), "trades": _flag(trades)}
        if userref is not None:
            params["userref"] = str(userref)
        return self._call("QueryOrders", dict[str, OrderInfo], params)

    def open_orders(
        self, *, cl_ord_id: str | None = None, userref: int | None = None, trades: bool = False
    ) -> OpenOrdersResult:
        """Open orders, optionally only those with ``cl_ord_id`` or ``userref``."""
        params = {"trades": _flag(trades)}
        if cl_ord_id is not None:
            params["cl_ord_id"] = cl_ord_id
        if userref is not None:
            params["userref"] = str(userref)
        return self._call("OpenOrders", OpenOrdersResult, params)

    def closed_orders(
        self,
        *,
        cl_ord_id: str | None = None,
        userref: int | None = None,
        start: float | str | None = None,
        end: float | str | None = None,
        ofs: int | None = None,
        closetime: str | None = None,
        trades: bool = False,
        without_count: bool = False,
    ) -> ClosedOrdersResult:
        """Closed orders, 50 per page, newest first; ``start``/``end`` are unix times or txids."""
        params = {"trades": _flag(trades)}
        optional = {
            "cl_ord_id": cl_ord_id,
            "userref": userref,
            "start": start,
            "end": end,
            "ofs": ofs,
            "closetime": closetime,
        }
        params.update({key: str(value) for key, value in optional.items() if value is not None})
        if without_count:
            params["without_count"] = "true"
        return self._call("ClosedOrders", ClosedOrdersResult, params)

    def query_trades(self, txids: Sequence[str], *, trades: bool = False) -> dict[str, TradeInfo]:
        """Trades by id, at most 20 per call."""
        if not 1 <= len(txids) <= 20:
            raise ValueError(f"QueryTrades takes 1 to 20 trade ids, got {len(txids)}")
        params = {"txid": ",".join(txids), "trades": _flag(trades)}
        return self._call("QueryTrades", dict[str, TradeInfo], params)

    def trades_history(
        self,
        *,
        start: float | str | None = None,
        end: float | str | None = None,
        ofs: int | None = None,
        trade_type: str | None = None,
        trades: bool = False,
    ) -> TradesHistoryResult:
        """The account's fills, 50 per page, newest first."""
        params = {"trades": _flag(trades)}
        optional = {"start": start, "end": end, "ofs": ofs, "type": trade_type}
        params.update({key: str(value) for key, value in optional.items() if value is not None})
        return self._call("TradesHistory", TradesHistoryResult, params)

    def get_websockets_token(self) -> WebSocketsToken:
        """A token for the private WebSocket (use it within 15 minutes)."""
        return self._call("GetWebSocketsToken", WebSocketsToken)

    def get_api_key_info(self) -> ApiKeyInfo:
        """The calling key's name and permissions (needs no permission itself)."""
        return self._call("GetApiKeyInfo", ApiKeyInfo)

    def balance(self) -> dict[str, Decimal]:
        return self._call("Balance", dict[str, Decimal])

    def balance_ex(self) -> dict[str, BalanceExEntry]:
        return self._call("BalanceEx", dict[str, BalanceExEntry])

    # --- public -------------------------------------------------------------------------------

    def time(self) -> ServerTime:
        return self._public_call("Time", ServerTime)

    def system_status(self) -> SystemStatus:
        return self._public_call("SystemStatus", SystemStatus)

    def assets(self, assets: Sequence[str] | None = None) -> dict[str, AssetInfo]:
        params = {"asset": ",".join(assets)} if assets else None
        return self._public_call("Assets", dict[str, AssetInfo], params)

    def asset_pairs(self, pairs: Sequence[str] | None = None) -> dict[str, AssetPairInfo]:
        params = {"pair": ",".join(pairs)} if pairs else None
        return self._public_call("AssetPairs", dict[str, AssetPairInfo], params)

    def ticker(self, pairs: Sequence[str] | None = None) -> dict[str, TickerInfo]:
        params = {"pair": ",".join(pairs)} if pairs else None
        return self._public_call("Ticker", dict[str, TickerInfo], params)
