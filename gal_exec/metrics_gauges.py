"""The gauges an operator alerts on, read from Engine.health() at scrape time.

Every name here is ``gal_exec_*``; docs/operations.md lists them with alert suggestions and
docs/grafana/gal-exec.json charts them. A scrape that cannot read the engine's health still
answers, with ``gal_exec_health_scrape_ok 0``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from gal_exec.kraken.jobs import HELD_BY

__all__ = ["BREAKER_VALUES", "HealthCollector", "families"]

log = logging.getLogger("gal_exec.metrics")

BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
"""gal_exec_breaker_state: 0 closed, 1 half open (trying), 2 open (calls held)."""


def _field(item: Any, name: str, default: Any = None) -> Any:
    """A field of a health entry, whether it is a dict or a Struct."""
    if isinstance(item, dict):
        return item.get(name, default)
    return getattr(item, name, default)


def families(health: dict[str, Any]) -> Iterator[Any]:
    """The gauge and counter families for one Engine.health() snapshot."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    def gauge(name: str, text: str, value: float | None) -> Iterator[Any]:
        if value is not None:
            yield GaugeMetricFamily(name, text, value=float(value))

    supervisor = health.get("supervisor") or {}
    stream = health.get("stream")
    gateway = health.get("gateway")
    readiness = health.get("readiness") or {}
    yield from gauge("gal_exec_health_scrape_ok", "1 when the engine's health was read", 1)
    yield from gauge("gal_exec_ready", "1 when /readyz passes", 1 if readiness.get("ready") else 0)
    yield from gauge(
        "gal_exec_stream_up",
        "1 while the executions stream is authenticated and subscribed",
        1 if stream is not None and stream.get("connected") else 0,
    )
    yield from gauge(
        "gal_exec_halted",
        "1 while the engine is halted",
        0 if supervisor.get("halted") is None else 1,
    )
    yield from gauge(
        "gal_exec_live_orders", "Orders with a live OrderActor", supervisor.get("live_orders")
    )
    yield from gauge(
        "gal_exec_queued_orders",
        "Orders waiting behind engine.max_live_orders",
        supervisor.get("queued_orders"),
    )
    anomalies = CounterMetricFamily(
        "gal_exec_order_anomalies",
        "Events an order's transition table refused, or figures it could not account (logged)",
        value=float(supervisor.get("anomalies") or 0),
    )
    yield anomalies
    unknown = health.get("outcome_unknown") or {}
    by_age = GaugeMetricFamily(
        "gal_exec_outcome_unknown_orders",
        "Orders in submit_unknown (sent, no answer) for at least age_s seconds",
        labels=["age_s"],
    )
    for bucket, count in (unknown.get("at_least_s") or {}).items():
        by_age.add_metric([bucket], float(count))
    yield by_age
    yield from gauge(
        "gal_exec_outcome_unknown_oldest_seconds",
        "How long the oldest order has been in submit_unknown (0 when none)",
        unknown.get("oldest_s", 0.0),
    )
    if gateway is not None:
        yield from _rate_limits(gateway, health.get("trading_threshold"), GaugeMetricFamily)
        states = GaugeMetricFamily(
            "gal_exec_breaker_state",
            "Circuit breaker per error category: 0 closed, 1 half open, 2 open",
            labels=["category"],
        )
        known = dict.fromkeys(HELD_BY, "closed")  # every breaker, closed until told otherwise
        known.update(_field(gateway, "breakers") or {})
        for category, state in sorted(known.items()):
            states.add_metric([category], float(BREAKER_VALUES.get(state, 2)))
        yield states
    dead_man = health.get("dead_man_switch")
    if dead_man is not None:
        left = dead_man.get("time_left_s")
        yield from gauge(
            "gal_exec_dead_man_seconds_left",
            "Seconds until the exchange would cancel every order if no refresh succeeds",
            left if left is not None else 0.0,
        )
    reconnects = CounterMetricFamily(
        "gal_exec_stream_reconnects",
        "WebSocket reconnections since start, per stream",
        labels=["stream"],
    )
    if stream is not None:
        reconnects.add_metric(["executions"], float(max(0, (stream.get("sessions") or 0) - 1)))
    market = health.get("market_data")
    if market is not None:
        sessions = market.get("stream_sessions") or 0
        reconnects.add_metric(["ticker"], float(max(0, sessions - 1)))
    yield reconnects
    if market is not None:
        yield from _prices(market, GaugeMetricFamily)
    status = health.get("exchange_status")
    if status is not None:
        yield from gauge(
            "gal_exec_exchange_online",
            "1 while the exchange's SystemStatus says online",
            1 if status.get("status") == "online" else 0,
        )
        yield from gauge(
            "gal_exec_exchange_status_age_seconds",
            "Age of the last SystemStatus answer",
            status.get("age_s"),
        )
        yield from gauge(
            "gal_exec_clock_offset_seconds",
            "The exchange's clock minus this machine's (Kraken's Time has 1 s resolution)",
            status.get("clock_offset_s"),
        )


def _rate_limits(gateway: Any, threshold: float | None, gauge_family: Any) -> Iterator[Any]:
    rest_max = _field(gateway, "rest_max") or 0.0
    rest_level = _field(gateway, "rest_level") or 0.0
    if rest_max:
        yield gauge_family(
            "gal_exec_rest_headroom_ratio",
            "Share of the key's REST call counter still free (1 = idle, 0 = at the limit)",
            value=max(0.0, (rest_max - rest_level) / rest_max),
        )
    points = gauge_family(
        "gal_exec_trading_headroom_points",
        "Trading-counter points spendable now, per pair",
        labels=["pair"],
    )
    ratio = gauge_family(
        "gal_exec_trading_headroom_ratio",
        "Share of the pair's trading counter still free (1 = idle, 0 = at the limit)",
        labels=["pair"],
    )
    for pair, headroom in sorted((_field(gateway, "trading_headroom") or {}).items()):
        points.add_metric([pair], float(headroom))
        if threshold:
            ratio.add_metric([pair], max(0.0, min(1.0, float(headroom) / float(threshold))))
    yield points
    yield ratio


def _prices(market: dict[str, Any], gauge_family: Any) -> Iterator[Any]:
    age = gauge_family(
        "gal_exec_price_age_seconds",
        "Age of the price the risk checks use, per pair",
        labels=["pair"],
    )
    stale = gauge_family(
        "gal_exec_price_stale", "1 when the pair's price is too old to decide on", labels=["pair"]
    )
    for pair, info in sorted((market.get("pairs") or {}).items()):
        if info.get("age_s") is not None:
            age.add_metric([pair], float(info["age_s"]))
        stale.add_metric([pair], 1.0 if info.get("stale") else 0.0)
    yield age
    yield stale


class HealthCollector:
    """A prometheus-client collector that reads ``snapshot()`` once per scrape."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Any]:
        return []  # names vary with the snapshot: never collect at registration

    def collect(self) -> Iterator[Any]:
        try:
            health = self._snapshot()
        except Exception as exc:
            log.warning("health unavailable for a scrape: %s", exc)
            from prometheus_client.core import GaugeMetricFamily

            yield GaugeMetricFamily(
                "gal_exec_health_scrape_ok", "1 when the engine's health was read", value=0.0
            )
            return
        yield from families(health)
