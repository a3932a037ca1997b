"""gal_exec: an order lifecycle engine for the Kraken spot exchange, built on Pykka actors."""

__version__ = "0.1.0"
