"""Measure journal commit latency and group-commit throughput, synchronous=normal vs full.

Prints figures; asserts nothing. Run from the repository root:
``.venv/bin/python scripts/journal_bench.py [--count 500] [--threads 4] [--dir var]``.
The default folder is ./var (a real disk): on tmpfs an fsync is free and the figures lie.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from gal_exec.journal import Journal, JournalWriter, OrderRecord


def intent(cl_ord_id: str) -> OrderRecord:
    return OrderRecord(
        cl_ord_id=cl_ord_id,
        signal_id="bench",
        pair="XBT/USD",
        side="buy",
        order_type="limit",
        quantity=Decimal("0.01"),
        limit_price=Decimal("30000.1"),
        created_at=time.time(),
    )


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def micros(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples) * 1e6:8.0f} µs   "
        f"p99 {percentile(samples, 0.99) * 1e6:8.0f} µs"
    )


def direct(journal: Journal, count: int) -> list[float]:
    """Each intent its own transaction on the caller's thread (no writer)."""
    latencies = []
    for index in range(count):
        start = time.perf_counter()
        journal.record_intent(intent(f"direct-{index}"))
        latencies.append(time.perf_counter() - start)
    return latencies


def sequential(writer: JournalWriter, count: int) -> list[float]:
    """One caller: submit, wait for durable, repeat (the latency an order sees alone)."""
    latencies = []
    for index in range(count):
        record = intent(f"seq-{index}")
        start = time.perf_counter()
        writer.call(lambda journal, record=record: journal.record_intent(record))
        latencies.append(time.perf_counter() - start)
    return latencies


def concurrent(writer: JournalWriter, count: int, threads: int) -> tuple[list[float], float]:
    """Many callers at once, each waiting for its own on_durable: group commit at work."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = count // threads

    def produce(thread: int) -> None:
        for index in range(per_thread):
            done = threading.Event()
            record = intent(f"con-{thread}-{index}")
            start = time.perf_counter()

            def on_durable(_result: object, start: float = start, done=done) -> None:
                with lock:
                    latencies.append(time.perf_counter() - start)
                done.set()

            writer.submit(lambda journal, r=record: journal.record_intent(r), on_durable=on_durable)
            done.wait(30)

    workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, time.perf_counter() - began


def open_time(folder: Path, orders: int) -> float:
    """Seconds to reopen a journal holding `orders` orders (includes the integrity check)."""
    path = folder / "big.sqlite"
    with Journal.open(path) as journal, journal.transaction():
        for index in range(orders):
            journal.record_intent(intent(f"big-{index}"))
    start = time.perf_counter()
    Journal.open(path).close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--dir", default="var")
    args = parser.parse_args()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="journal-bench-", dir=args.dir) as folder:
        for synchronous in ("normal", "full"):
            path = Path(folder) / f"{synchronous}.sqlite"
            with Journal.open(path, synchronous=synchronous) as journal:  # type: ignore[arg-type]
                print(f"synchronous={synchronous}")
                print(f"  direct, own transaction each   {micros(direct(journal, args.count))}")
                writer = JournalWriter(journal)
                writer.start()
                try:
                    print(
                        f"  writer, one caller             {micros(sequential(writer, args.count))}"
                    )
                    batches_before, ops_before = writer.batches, writer.operations
                    latencies, elapsed = concurrent(writer, args.count, args.threads)
                    batches = writer.batches - batches_before
                    ops = writer.operations - ops_before
                    print(f"  writer, {args.threads} callers at once      {micros(latencies)}")
                    print(
                        f"  {args.threads} callers: {ops / elapsed:8.0f} intents/s, "
                        f"{ops / max(batches, 1):.1f} intents per commit"
                    )
                finally:
                    writer.stop()
        orders = 20_000
        print(
            f"reopen a journal of {orders} orders: {open_time(Path(folder), orders) * 1e3:.0f} ms"
        )


if __name__ == "__main__":
    main()
