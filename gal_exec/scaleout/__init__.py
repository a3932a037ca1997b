"""Beyond one process: signals in and reports out over Redis Streams, one live engine per account.

``SignalPublisher`` and ``ReportReader`` are the producer's and consumer's API; ``AccountNode``
runs an engine that competes for an account's lease (``gal-exec run --intake redis://...``).
Needs redis-py (``pip install 'gal-exec[redis]'``). See docs/scale-out.md.
"""

from gal_exec.scaleout.keys import MESSAGE_FIELD, AccountKeys, BrokerAddress, parse_address
from gal_exec.scaleout.publisher import ReportReader, SignalPublisher

__all__ = [
    "MESSAGE_FIELD",
    "AccountKeys",
    "BrokerAddress",
    "ReportReader",
    "SignalPublisher",
    "parse_address",
]
