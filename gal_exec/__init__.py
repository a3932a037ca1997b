"""gal_exec: an order lifecycle engine for the Kraken spot exchange, built on Pykka actors.

    from gal_exec import Engine, TradeSignalApproved, load_config

    engine = Engine.start(load_config("config.toml"))
    engine.subscribe(print)
    engine.submit(TradeSignalApproved(signal_id="s1", pair="XBT/USD", side="buy",
                                      order_type="market", quantity=Decimal("0.01")))

Everything a user needs is exported here; the submodules are the engine's internals.
"""

from gal_exec.config import Config, ConfigError, load_config
from gal_exec.engine import Endpoints, Engine, EngineError
from gal_exec.messages import (
    AmendSignal,
    BatchItemOutcome,
    BatchReport,
    BatchSubmit,
    CancelSignal,
    ExecutionReport,
    Halt,
    InboundMessage,
    MessageDecodeError,
    OrderStatus,
    OrderType,
    Resume,
    Role,
    Side,
    TimeInForce,
    TradeSignalApproved,
    decode_inbound,
    decode_report,
    encode,
)

__version__ = "0.1.0"

__all__ = [
    "AmendSignal",
    "BatchItemOutcome",
    "BatchReport",
    "BatchSubmit",
    "CancelSignal",
    "Config",
    "ConfigError",
    "Endpoints",
    "Engine",
    "EngineError",
    "ExecutionReport",
    "Halt",
    "InboundMessage",
    "MessageDecodeError",
    "OrderStatus",
    "OrderType",
    "Resume",
    "Role",
    "Side",
    "TimeInForce",
    "TradeSignalApproved",
    "__version__",
    "decode_inbound",
    "decode_report",
    "encode",
    "load_config",
]
