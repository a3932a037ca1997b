#!/usr/bin/env python3
"""Render the Grafana dashboard's panels from a real run into docs/img/dashboard.png.

Runs the engine on the embedded simulator for ``--seconds`` (default 60) with a stream of
orders and a few incidents (an order whose answer is lost, the executions stream held down, a
halt over exchange maintenance), scrapes ``/metrics`` once a second, then draws every panel of
docs/grafana/gal-exec.json with matplotlib, evaluating its PromQL (the small subset the
dashboard uses) over the scraped samples. Needs ``pip install 'gal-exec[dashboard]'``.

    .venv/bin/python scripts/dashboard_png.py [--seconds 60] [--out docs/img/dashboard.png]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gal_exec.config import (  # noqa: E402
    Config,
    EngineConfig,
    JournalConfig,
    MarketDataConfig,
    MetricsConfig,
    OrdersConfig,
)
from gal_exec.engine import Engine  # noqa: E402
from gal_exec.messages import Halt, Resume, TradeSignalApproved  # noqa: E402

Labels = tuple[tuple[str, str], ...]
Series = dict[str, dict[Labels, list[tuple[float, float]]]]


# ---- the run --------------------------------------------------------------------------------


def run(seconds: float) -> Series:
    """Run the engine with incidents, scraping /metrics every second; the samples by name."""
    from prometheus_client.parser import text_string_to_metric_families

    folder = Path(tempfile.mkdtemp(prefix="gal-exec-dashboard-"))
    config = Config(
        engine=EngineConfig(dead_man_switch="on", status_poll_s=1.0),
        orders=OrdersConfig(resolve_delay_s=3.0),
        journal=JournalConfig(path=str(folder / "journal.sqlite")),
        market_data=MarketDataConfig(enabled=True, pairs=["XBT/USD", "ETH/USD"]),
        metrics=MetricsConfig(enabled=True, port=0),
    )
    engine = Engine.start(config)
    control = engine.simulator.control_url
    base = f"http://127.0.0.1:{engine.metrics_port}"
    session = requests.Session()
    session.trust_env = False

    def sim(route: str, body: dict[str, Any], verb: str = "post") -> None:
        getattr(session, verb)(f"{control}/{route}", json=body, timeout=5).raise_for_status()

    lose_one_answer = {"endpoint": "AddOrder", "kind": "drop", "when": "before", "next": 1}
    refuse_tokens = {"endpoint": "GetWebSocketsToken", "kind": "unavailable"}
    incidents: dict[int, Callable[[], object]] = {
        int(seconds * 0.15): lambda: sim("faults", {"rules": [lose_one_answer]}, "put"),
        int(seconds * 0.35): lambda: (
            sim("faults", {"rules": [refuse_tokens]}, "put"),
            sim("ws/disconnect", {}),
        ),
        int(seconds * 0.47): lambda: sim("faults", {"rules": []}, "put"),
        int(seconds * 0.62): lambda: engine.submit(Halt(reason="maintenance", cancel_open=False)),
        int(seconds * 0.66): lambda: sim("status", {"status": "maintenance"}),
        int(seconds * 0.72): lambda: sim("status", {"status": "online"}),
        int(seconds * 0.76): lambda: engine.submit(Resume()),
    }
    series: Series = defaultdict(lambda: defaultdict(list))
    start = time.monotonic()
    tick = threading.Event()
    try:
        for second in range(int(seconds)):
            tick.wait(max(0.0, start + second - time.monotonic()))
            if second in incidents:
                incidents[second]()
            _signals(engine, second)
            text = session.get(base + "/metrics", timeout=10).text
            now = time.monotonic() - start
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name.startswith("gal_exec_"):
                        labels = tuple(sorted(sample.labels.items()))
                        series[sample.name][labels].append((now, float(sample.value)))
            print(f"\r{second + 1:3d}/{int(seconds)} s", end="", file=sys.stderr, flush=True)
    finally:
        print(file=sys.stderr)
        engine.stop(cancel_open=True)
    return series


def _signals(engine: Engine, second: int) -> None:
    """Market orders both ways on two pairs, and limits that rest then time out."""
    pair, quantity, limit = (
        ("XBT/USD", "0.01", "64000.0") if second % 2 else ("ETH/USD", "0.1", "3100.00")
    )
    engine.submit(
        TradeSignalApproved(
            signal_id=f"m{second}",
            pair=pair,
            side="buy" if second % 4 < 2 else "sell",
            order_type="market",
            quantity=Decimal(quantity),
        )
    )
    if second % 3 == 0:
        engine.submit(
            TradeSignalApproved(
                signal_id=f"l{second}",
                pair=pair,
                side="buy",
                order_type="limit",
                quantity=Decimal(quantity),
                limit_price=Decimal(limit),
                timeout_s=12,
            )
        )


# ---- a PromQL subset over the samples ----------------------------------------------------------

_PLAIN = re.compile(r"^(gal_exec_\w+)$")
_INCREASE = re.compile(r"^increase\((gal_exec_\w+)\[(\d+)m\]\)$")
_SUM_RATE = re.compile(r"^sum(?: by \((\w+)\))? \(rate\((gal_exec_\w+)\[(\d+)m\]\)\)$")
_SUM_RATE_BARE = re.compile(r"^sum\(rate\((gal_exec_\w+)\[(\d+)m\]\)\)$")
_QUANTILE = re.compile(
    r"^histogram_quantile\(([\d.]+), sum by \(le\) \(rate\((gal_exec_\w+)\[(\d+)m\]\)\)\)$"
)


def _delta(points: list[tuple[float, float]], index: int, window: float) -> float:
    """Increase over the ``window`` seconds before sample ``index`` (or since the first)."""
    now, value = points[index]
    earlier = next((v for t, v in points[: index + 1] if t >= now - window), points[0][1])
    return max(0.0, value - earlier)


def _rate(points: list[tuple[float, float]], index: int, window: float) -> float:
    span = min(window, points[index][0] - points[0][0]) or 1.0
    return _delta(points, index, window) / span


def evaluate(expr: str, series: Series) -> dict[Labels, list[tuple[float, float]]]:
    """The result series of one dashboard query, by label set."""
    if match := _PLAIN.match(expr):
        return dict(series.get(match.group(1), {}))
    if match := _INCREASE.match(expr):
        name, window = match.group(1), 60.0 * int(match.group(2))
        return {
            labels: [(t, _delta(points, i, window)) for i, (t, _) in enumerate(points)]
            for labels, points in series.get(name, {}).items()
        }
    grouped = _SUM_RATE.match(expr) or _SUM_RATE_BARE.match(expr)
    if grouped:
        if grouped.re is _SUM_RATE:
            by, name, minutes = grouped.group(1), grouped.group(2), grouped.group(3)
        else:
            by, name, minutes = None, grouped.group(1), grouped.group(2)
        sums: dict[Labels, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        for labels, points in series.get(name, {}).items():
            key: Labels = tuple((k, v) for k, v in labels if k == by) if by else ()
            for i, (t, _) in enumerate(points):
                sums[key][round(t)] += _rate(points, i, 60.0 * int(minutes))
        return {key: sorted(values.items()) for key, values in sums.items()}
    if match := _QUANTILE.match(expr):
        return {
            (): _quantile(
                float(match.group(1)), series.get(match.group(2), {}), 60.0 * int(match.group(3))
            )
        }
    raise ValueError(f"the renderer does not evaluate {expr!r}")


def _quantile(
    q: float, buckets: dict[Labels, list[tuple[float, float]]], window: float
) -> list[tuple[float, float]]:
    by_le = {float(dict(labels)["le"]): points for labels, points in buckets.items()}
    bounds = sorted(by_le)
    if not bounds:
        return []
    out = []
    for i, (t, _) in enumerate(by_le[bounds[0]]):
        counts = [_delta(by_le[le], i, window) for le in bounds]
        total = counts[-1]
        if total <= 0:
            continue
        rank = q * total
        for j, le in enumerate(bounds):
            if counts[j] >= rank:
                low = bounds[j - 1] if j else 0.0
                below = counts[j - 1] if j else 0.0
                inside = counts[j] - below
                high = le if le != float("inf") else low
                value = low + (high - low) * ((rank - below) / inside if inside else 1.0)
                out.append((t, value))
                break
    return out


def legend(template: str, labels: Labels) -> str:
    mapping = dict(labels)
    return (
        re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: mapping.get(m.group(1), ""), template) or "value"
    )


# ---- drawing --------------------------------------------------------------------------------

_COLORS = {"green": "#2e9e44", "red": "#d63b3b", "orange": "#e8912d", "blue": "#3274d9"}


def _stat_look(panel: dict[str, Any], value: float | None) -> tuple[str, str]:
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    if value is None:
        return "no data", "#888888"
    for mapping in defaults.get("mappings", []):
        found = mapping.get("options", {}).get(f"{value:g}")
        if found:
            return found["text"], _COLORS.get(found.get("color", ""), "#888888")
    color = "#888888"
    for step in defaults.get("thresholds", {}).get("steps", []):
        if step["value"] is None or value >= step["value"]:
            color = _COLORS.get(step["color"], color)
    unit = " s" if defaults.get("unit") == "s" else ""
    return f"{value:.0f}{unit}", color


def draw(board: dict[str, Any], series: Series, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = board["panels"]
    stats = [p for p in panels if p["type"] == "stat"]
    charts = [p for p in panels if p["type"] != "stat"]
    rows = (len(charts) + 1) // 2
    figure = plt.figure(figsize=(16, 2.2 + 3.1 * rows), dpi=100, facecolor="#111217")
    grid = figure.add_gridspec(
        rows + 1, 12, height_ratios=[0.6] + [1.0] * rows, hspace=0.55, wspace=0.9, top=0.955
    )
    figure.suptitle(
        f"{board['title']}: the engine on the simulator, one scrape a second",
        color="#e0e0e0",
        fontsize=15,
        y=0.995,
    )
    for index, panel in enumerate(stats):
        axes = figure.add_subplot(grid[0, index * 2 : index * 2 + 2])
        result = evaluate(panel["targets"][0]["expr"], series)
        last = next((points[-1][1] for points in result.values() if points), None)
        text, color = _stat_look(panel, last)
        axes.set_facecolor(color)
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(panel["title"], color="#e0e0e0", fontsize=10)
        axes.text(
            0.5, 0.45, text, ha="center", va="center", fontsize=17, color="white", weight="bold"
        )
    for index, panel in enumerate(charts):
        row, column = divmod(index, 2)
        axes = figure.add_subplot(grid[row + 1, column * 6 : column * 6 + 6])
        axes.set_facecolor("#181b1f")
        for spine in axes.spines.values():
            spine.set_color("#444444")
        axes.tick_params(colors="#b0b0b0", labelsize=8)
        axes.set_title(panel["title"], color="#e0e0e0", fontsize=11, loc="left")
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        for target in panel["targets"]:
            for labels, points in sorted(evaluate(target["expr"], series).items()):
                if points:
                    xs, ys = zip(*points, strict=True)
                    axes.step(
                        xs,
                        ys,
                        where="post",
                        label=legend(target["legendFormat"], labels),
                        linewidth=1.4,
                    )
        if defaults.get("custom", {}).get("scaleDistribution", {}).get("type") == "log":
            axes.set_yscale("log")
        elif "min" in defaults or "max" in defaults:
            low, high = defaults.get("min", 0), defaults.get("max")
            axes.set_ylim(low - 0.05 * (high or 1), (high or axes.get_ylim()[1]) * 1.08)
        axes.set_xlabel("seconds into the run", color="#b0b0b0", fontsize=8)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(
                fontsize=7,
                loc="upper left",
                facecolor="#181b1f",
                labelcolor="#d0d0d0",
                edgecolor="#444444",
                ncol=2,
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, facecolor=figure.get_facecolor(), bbox_inches="tight")
    print(f"wrote {out}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "dashboard.png")
    args = parser.parse_args()
    board = json.loads((ROOT / "docs" / "grafana" / "gal-exec.json").read_text())
    draw(board, run(args.seconds), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
