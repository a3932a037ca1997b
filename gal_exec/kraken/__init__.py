"""Kraken's protocol: signing, nonces, REST and WebSocket v2 clients and codecs, the error
taxonomy, the tiers' rate-limit models and the pairs' rules.

The engine uses the submodules directly; a user who wants a plain signed client has it here.
"""

from gal_exec.kraken.auth import Credentials, load_credentials
from gal_exec.kraken.errors import KrakenAPIError, KrakenError, TransportError
from gal_exec.kraken.rest import KrakenRestClient

__all__ = [
    "Credentials",
    "KrakenAPIError",
    "KrakenError",
    "KrakenRestClient",
    "TransportError",
    "load_credentials",
]
