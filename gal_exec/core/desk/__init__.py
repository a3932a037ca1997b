"""The desk: every order of a signal pipeline as one pure object. Events in, effects out.

The Desk owns what the supervisor knows: the order registry and its indexes (by cl_ord_id, txid
and signal), the live-order cap and the queue behind it, signal intake (accept, or reject with
the reason: ``_intake``), the protective children as OCO pairs in generations (``_protection``),
operators' amends (checked here, sent by the order: ``_amends``), the account (positions from the
engine's own fills, balances from the exchange), halt and resume, and restore after a restart. Each order's own lifecycle is its OrderModel's,
run by an OrderActor; the Desk creates the model, hands it over (``Run``) and hears back when
its order fills or finishes.

The supervisor actor is a shell: it turns messages into calls here and carries out the effects
(``_effects``). Nothing here touches a thread, a socket or the machine's clock.

Restore is a replay: ``replay`` rebuilds the registry, the bracket book and every order's model
from the journal's reports through the same functions the live path uses, and ``restore`` then
hands every order that is not finished to an actor and places the protection that is due. A
crashed order is rebuilt the same way (``reloaded``).
"""

from gal_exec.core.desk._desk import Desk
from gal_exec.core.desk._effects import (
    AccountHealth,
    AmendOrder,
    CancelOrder,
    DeskEffect,
    DeskHealth,
    DeskSettings,
    FetchBalances,
    IntentDurable,
    Journal,
    JournaledReport,
    JournalLevels,
    Link,
    ListOpenOrders,
    Note,
    OpenBatch,
    OrderCommand,
    Reject,
    Reload,
    Report,
    Run,
    SetPosition,
    Settle,
    StreamChanged,
    Tell,
    VerifyStatus,
)

__all__ = [
    "AccountHealth",
    "AmendOrder",
    "CancelOrder",
    "Desk",
    "DeskEffect",
    "DeskHealth",
    "DeskSettings",
    "FetchBalances",
    "IntentDurable",
    "Journal",
    "JournalLevels",
    "JournaledReport",
    "Link",
    "ListOpenOrders",
    "Note",
    "OpenBatch",
    "OrderCommand",
    "Reject",
    "Reload",
    "Report",
    "Run",
    "SetPosition",
    "Settle",
    "StreamChanged",
    "Tell",
    "VerifyStatus",
]
