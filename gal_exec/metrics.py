"""Prometheus metrics (optional): counters for orders, fills and errors, latency histograms, and
the gauges an operator alerts on.

Served at ``/metrics`` beside ``/healthz`` and ``/readyz`` (gal_exec.health) when ``[metrics]
enabled = true``; needs the ``prometheus-client`` package (``pip install 'gal-exec[metrics]'``).
Counters are fed from the report stream; errors are read from the ErrorClassifier when scraped;
signal-to-wire is observed by the gateway as a request leaves; the gauges (gal_exec.metrics_gauges)
are read from Engine.health() at each scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gal_exec.core.vocabulary import TERMINAL_STATUSES
from gal_exec.messages import ExecutionReport

__all__ = ["Metrics", "MetricsUnavailable"]

log = logging.getLogger("gal_exec.metrics")

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
)  # fmt: skip


class MetricsUnavailable(RuntimeError):
    """Metrics were asked for but prometheus-client is not installed."""


class Metrics:
    """The engine's Prometheus registry; ``render`` gives what GET /metrics serves."""

    def __init__(self, *, clock: Any, errors: Callable[[], dict[str, int]] | None = None) -> None:
        try:
            import prometheus_client as prom
        except ImportError:
            raise MetricsUnavailable(
                "metrics.enabled needs the prometheus-client package: "
                "pip install 'gal-exec[metrics]'"
            ) from None
        self._prom = prom
        self.clock = clock
        self.registry = prom.CollectorRegistry()
        self.orders = prom.Counter(
            "gal_exec_orders",
            "Orders that reached a final state",
            ["status", "role"],
            registry=self.registry,
        )
        self.fills = prom.Counter(
            "gal_exec_fills", "Fills reported", ["pair"], registry=self.registry
        )
        self.signal_to_wire = prom.Histogram(
            "gal_exec_signal_to_wire_seconds",
            "From the supervisor receiving a signal to its AddOrder leaving",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.fill_to_report = prom.Histogram(
            "gal_exec_fill_to_report_seconds",
            "From the exchange's fill time to the report's delivery",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        if errors is not None:
            self.registry.register(_ErrorsCollector(errors))

    def observe_report(self, report: ExecutionReport) -> None:
        """A ReportSink callback: count final states and fills, time fill-to-report."""
        if report.status in TERMINAL_STATUSES:
            self.orders.labels(status=report.status, role=report.role).inc()
        if report.last_fill_quantity is not None:
            self.fills.labels(pair=report.pair).inc()
            if report.exchange_time:
                delay = self.clock.time() - report.exchange_time
                if delay >= 0:
                    self.fill_to_report.observe(delay)

    def observe_signal_to_wire(self, seconds: float) -> None:
        if seconds >= 0:
            self.signal_to_wire.observe(seconds)

    def watch(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        """Serve the operator gauges, read from ``snapshot()`` (Engine.health() and readiness)
        at each scrape."""
        from gal_exec.metrics_gauges import HealthCollector

        self.registry.register(HealthCollector(snapshot))

    def render(self) -> tuple[bytes, str]:
        """The exposition text of every metric, and its content type (for GET /metrics)."""
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST


class _ErrorsCollector:
    """gal_exec_errors_total{category}, read from the ErrorClassifier when scraped."""

    def __init__(self, errors: Callable[[], dict[str, int]]) -> None:
        from prometheus_client.core import CounterMetricFamily

        self._family = CounterMetricFamily
        self._errors = errors

    def collect(self) -> Any:
        family = self._family(
            "gal_exec_errors", "Exchange and transport errors by category", labels=["category"]
        )
        try:
            counts = self._errors()
        except Exception:
            log.debug("error counts unavailable for a scrape", exc_info=True)
            counts = {}
        for category, count in sorted(counts.items()):
            family.add_metric([category], count)
        yield family
