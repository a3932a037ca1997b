"""The durable journal: every signal, order intent, report and fill, in one SQLite file.

Write before you act: an order's intent is committed before its request leaves, and every
report before it is delivered, so an engine killed at any instant restarts from the journal
without losing an order or sending one twice. `Journal` is the store (schema in
docs/journal.md); `JournalWriter` is the one thread that writes it, committing in groups.
"""

from gal_exec.journal._command import format_orders, orders_command
from gal_exec.journal._inbox import (
    InboxEntry,
    InboxRow,
    JournaledReport,
    OutboxCursor,
    inbox_journaled,
    inbox_mark_handed,
    inbox_unsettled,
    journal_epoch,
    latest_control,
    outbox_cursor,
    record_inbox,
    report_rowid_since,
    reports_after,
    set_journal_epoch,
    set_outbox_cursor,
    signals_settled,
    unsent_entry_reports,
)
from gal_exec.journal._location import (
    DEFAULT_JOURNAL_PATH,
    RUNS_DIR,
    default_journal_path,
    latest_run_journal,
)
from gal_exec.journal._records import (
    TERMINAL_STATUSES,
    EventRecord,
    FillRecord,
    OrderRecord,
    SignalRecord,
    ledger_fills,
)
from gal_exec.journal._schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    DuplicateOrderError,
    JournalError,
    Migration,
    UnknownOrderError,
)
from gal_exec.journal._snapshot import copy_journal
from gal_exec.journal._store import Journal
from gal_exec.journal._writer import BatchAborted, JournalWriter

__all__ = [
    "DEFAULT_JOURNAL_PATH",
    "MIGRATIONS",
    "RUNS_DIR",
    "SCHEMA_VERSION",
    "TERMINAL_STATUSES",
    "BatchAborted",
    "DuplicateOrderError",
    "EventRecord",
    "FillRecord",
    "InboxEntry",
    "InboxRow",
    "Journal",
    "JournalError",
    "JournalWriter",
    "JournaledReport",
    "Migration",
    "OrderRecord",
    "OutboxCursor",
    "SignalRecord",
    "UnknownOrderError",
    "copy_journal",
    "default_journal_path",
    "format_orders",
    "inbox_journaled",
    "inbox_mark_handed",
    "inbox_unsettled",
    "journal_epoch",
    "latest_control",
    "latest_run_journal",
    "ledger_fills",
    "orders_command",
    "outbox_cursor",
    "record_inbox",
    "report_rowid_since",
    "reports_after",
    "set_journal_epoch",
    "set_outbox_cursor",
    "signals_settled",
    "unsent_entry_reports",
]
