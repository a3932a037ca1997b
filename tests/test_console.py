"""The run command's console: a status line that never shares a line with a log record, JSON-only
output in JSON mode, and the texts of the summary and the waiting notice."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest

from gal_exec.actors.report_sink import SinkStats
from gal_exec.console import Console
from gal_exec.journal import OrderRecord
from gal_exec.logs import setup_logging
from gal_exec.run_report import Snapshot, SummaryInput, summary_fields, summary_text, waiting_line
from gal_exec.signal_reader import ReadResult
from gal_exec.stopping import StopOutcome

CLEAR = "\r\x1b[K"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_a_log_record_clears_the_status_line_and_redraws_it_after(restore_logging) -> None:
    terminal = Terminal()
    console = Console(terminal)
    setup_logging(level="INFO", console=console)
    console.status("live 3 · queued 0")
    logging.getLogger("gal_exec.test").warning("something happened")
    console.status("live 2 · queued 0")
    console.clear_status()
    out = terminal.getvalue()
    record_at = out.index("something happened")
    line_start = out.rindex(CLEAR, 0, record_at)
    # the record is written on a cleared line, then the status line comes back below it
    assert out[:line_start] == CLEAR + "live 3 · queued 0"
    assert out[record_at:].startswith("something happened\nlive 3 · queued 0" + CLEAR)
    assert out.endswith(CLEAR + "live 2 · queued 0" + CLEAR)


def test_no_status_line_off_a_terminal_or_in_json_mode() -> None:
    plain = io.StringIO()
    Console(plain).status("live 1")
    assert plain.getvalue() == ""
    terminal = Terminal()
    Console(terminal, json_lines=True).status("live 1")
    assert terminal.getvalue() == ""


def test_json_mode_writes_notices_as_json_records_with_fields(restore_logging) -> None:
    stream = Terminal()
    console = Console(stream, json_lines=True)
    setup_logging(level="INFO", json_lines=True, console=console)
    logging.getLogger("gal_exec.test").warning("a warning")
    console.notice("gal-exec summary (1.0 s)\n  fills: 0", fields={"summary": {"fills": 0}})
    records = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert [record["message"].splitlines()[0] for record in records] == [
        "a warning",
        "gal-exec summary (1.0 s)",
    ]
    assert records[1]["summary"] == {"fills": 0} and records[1]["logger"] == "gal_exec.run"


def _summary(**changes: object) -> SummaryInput:
    values: dict[str, object] = {
        "elapsed": 12.34,
        "stats": SinkStats(reports=9, fills=2, final_by_status_role={"canceled/entry": 2}),
        "health": {"errors": {"by_category": {"rate_limit": 1}}},
        "outcome": StopOutcome(
            cancel_open=True,
            open_count=3,
            canceled=("c-1", "c-2"),
            filled=("f-1",),
            left_open=(),
        ),
        "read": ReadResult(lines=5, submitted=4, rejected=1),
        "journal": "var/runs/x/journal.sqlite",
        "reports": "",
        "interrupted": "SIGINT",
    }
    values.update(changes)
    return SummaryInput(**values)  # type: ignore[arg-type]


def test_the_summary_says_what_became_of_each_open_order() -> None:
    text = summary_text(_summary())
    assert text.splitlines()[0] == "gal-exec summary (12.3 s, stopped on SIGINT)"
    assert (
        "  open at stop: 3 (on_stop = cancel): 2 canceled (c-1, c-2); 1 filled meanwhile (f-1)"
        in text.splitlines()
    )
    assert "  signals: 5 lines, 4 submitted, 1 rejected" in text.splitlines()
    assert "journal: var/runs/x/journal.sqlite (gal-exec orders --journal" in text
    assert "still live" not in text


def test_the_summary_names_orders_left_on_the_exchange_and_a_read_failure() -> None:
    outcome = StopOutcome(
        cancel_open=False,
        open_count=7,
        left_open=tuple(f"o-{i}" for i in range(7)),
        left_open_count=7,
    )
    read = ReadResult(lines=2, submitted=2, failure="cannot read line 3: Input/output error")
    text = summary_text(_summary(outcome=outcome, read=read, interrupted=None))
    assert (
        "open at stop: 7 (on_stop = leave): 7 left open on the exchange "
        "(o-0, o-1, o-2, o-3, o-4 and 2 more)" in text
    )
    assert "reading failed: cannot read line 3: Input/output error" in text
    fields = summary_fields(_summary(outcome=outcome, read=read))
    assert fields["at_stop"]["left_open_count"] == 7 and fields["signals"]["failure"]
    json.dumps(fields)


def test_the_waiting_notice_names_the_live_orders_oldest_first() -> None:
    def record(cl_ord_id: str, created_at: float) -> OrderRecord:
        return OrderRecord(
            cl_ord_id=cl_ord_id,
            signal_id="s",
            role="entry",
            pair="XBT/USD",
            side="buy",
            order_type="limit",
            quantity=Decimal("0.01"),
            time_in_force="GTC",
            status="open",
            created_at=created_at,
            updated_at=created_at,
        )

    records = [record(f"o-{i}", 1000.0 + i) for i in (3, 1, 2, 4)]
    line = waiting_line(records, None, clock_now=1013.0)
    assert line.startswith("gal-exec: waiting for 4 live orders: o-1 XBT/USD entry limit open, ")
    assert line.endswith("and 1 more (oldest 12 s)")
    snapshot = Snapshot(live=2, queued=1, finished=0, fills=0, reports=0)
    assert waiting_line(None, snapshot, clock_now=0.0) == "gal-exec: waiting for 3 live orders"


def test_no_log_line_carries_an_unbounded_value(restore_logging) -> None:
    stream = io.StringIO()
    console = Console(stream)
    setup_logging(level="INFO", console=console)
    logging.getLogger("gal_exec.test").warning("signal %s rejected: %s", "i" * 100_000, "why")
    (line,) = stream.getvalue().splitlines()
    assert len(line) < 4_200 and line.endswith("… (100021 characters)")
