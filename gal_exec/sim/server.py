"""Run the simulator: the ``Simulator`` context manager (exchange + REST + WS servers on
loopback) and ``run_standalone`` behind ``gal-exec sim``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
from typing import Any, Self

import msgspec

from gal_exec.config import SimConfig
from gal_exec.sim.auth import DEMO_API_KEY, DEMO_API_SECRET
from gal_exec.sim.exchange import Exchange
from gal_exec.sim.external_prices import PriceSource
from gal_exec.sim.faults import FaultPlanError
from gal_exec.sim.rest_server import SimRestServer

__all__ = ["Simulator", "run_standalone"]


def _ws_server_class() -> Any:
    try:
        module = importlib.import_module("gal_exec.sim.ws_server")
    except ImportError:
        return None
    return getattr(module, "SimWsServer", None)


class Simulator:
    """The embedded Kraken: an Exchange with its REST server (and WS servers when available).

    ``with Simulator(SimConfig(clock="manual")) as sim: ...`` then point a client at
    ``sim.rest_url`` / ``sim.ws_url`` / ``sim.ws_auth_url`` with ``sim.api_key`` and
    ``sim.api_secret``. Ports come from the config (0: ephemeral). With ``ws_port`` N the public
    WS server listens on N and the authenticated one on N + 1. With a ``price_source`` (paper
    trading) the markets follow it instead of their random walk.
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        clock: Any = None,
        price_source: PriceSource | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self._clock = clock
        self._price_source = price_source
        self._exchange: Exchange | None = None
        self._rest: SimRestServer | None = None
        self._ws: list[Any] = []

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Create the exchange and start the servers; stops what started if anything fails."""
        if self._exchange is not None:
            return self
        config = self.config
        exchange = Exchange(config, self._clock)
        self._exchange = exchange
        try:
            self._rest = SimRestServer(exchange, config.host, config.rest_port)
            self._rest.start()
            ws_class = _ws_server_class()
            if ws_class is not None:
                auth_port = config.ws_port + 1 if config.ws_port else 0
                for port, public in ((config.ws_port, True), (auth_port, False)):
                    server = ws_class(exchange, config.host, port, public=public)
                    server.start()
                    self._ws.append(server)
                    if hasattr(server, "disconnect_all"):
                        exchange.ws_disconnectors.append(server.disconnect_all)
            if self._price_source is not None:
                exchange.use_external_prices()
                self._price_source.start(exchange)
            exchange.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the price source, servers and stepping; safe to call twice."""
        if self._price_source is not None:
            self._price_source.stop()
        for server in self._ws:
            try:
                server.stop()
            except Exception:
                pass
        self._ws = []
        if self._rest is not None:
            self._rest.stop()
            self._rest = None
        if self._exchange is not None:
            self._exchange.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and credentials --------------------------------------------------------

    @property
    def exchange(self) -> Exchange:
        if self._exchange is None:
            raise RuntimeError("the simulator is not started")
        return self._exchange

    @property
    def rest_url(self) -> str:
        """Base URL: ``rest_url + "/0/private/AddOrder"`` is the endpoint."""
        if self._rest is None:
            raise RuntimeError("the simulator is not started")
        return self._rest.url

    @property
    def control_url(self) -> str:
        return self.rest_url + "/sim"

    @property
    def ws_url(self) -> str | None:
        """Public WS v2 URL (None when the WS server is not available)."""
        return self._ws[0].url if self._ws else None

    @property
    def ws_auth_url(self) -> str | None:
        """Authenticated WS v2 URL (None when the WS server is not available)."""
        return self._ws[1].url if len(self._ws) > 1 else None

    @property
    def api_key(self) -> str:
        return DEMO_API_KEY

    @property
    def api_secret(self) -> str:
        return DEMO_API_SECRET

    def endpoints(self) -> dict[str, str | None]:
        """What ``gal-exec sim`` prints first: URLs and the demo credentials."""
        return {
            "rest_url": self.rest_url,
            "ws_url": self.ws_url,
            "ws_auth_url": self.ws_auth_url,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "control_url": self.control_url,
        }


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise _UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(prog="gal-exec sim", description="Run the Kraken simulator on loopback.")
    parser.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--rest-port", type=int, default=None, help="REST port (0: any)")
    parser.add_argument(
        "--ws-port",
        type=int,
        default=None,
        help="public WS port; the authenticated one is the next (0: any)",
    )
    parser.add_argument("--tier", choices=("starter", "intermediate", "pro"), default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--faults", metavar="FILE", default=None, help="fault plan JSON file")
    parser.add_argument("--clock", choices=("real", "manual"), default=None)
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="do not refuse requests over Kraken's rate limits",
    )
    return parser


def _config_from(argv: list[str], base: SimConfig) -> SimConfig:
    args = _parser().parse_args(argv)
    changes: dict[str, Any] = {}
    for name in ("host", "rest_port", "ws_port", "tier", "seed", "faults", "clock"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if args.no_rate_limits:
        changes["enforce_rate_limits"] = False
    for name in ("rest_port", "ws_port"):
        if name in changes and not 0 <= changes[name] <= 65535:
            raise _UsageError(f"--{name.replace('_', '-')}: must be 0..65535, got {changes[name]}")
    if "ws_port" in changes and changes["ws_port"] == 65535:
        raise _UsageError("--ws-port: must leave room for the authenticated port (N + 1)")
    try:
        return msgspec.structs.replace(base, **changes)
    except (TypeError, msgspec.ValidationError) as exc:
        raise _UsageError(str(exc)) from None


def run_standalone(argv: list[str], *, base: SimConfig | None = None) -> int:
    """``gal-exec sim [...]``: print the endpoints as one JSON line, serve until SIGINT/SIGTERM.

    Returns 0 after a signal, 2 on bad arguments (one line on stderr), 1 if it cannot start.
    """
    try:
        config = _config_from(argv, base or SimConfig())
    except _UsageError as exc:
        print(f"gal-exec sim: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        simulator = Simulator(config).start()
    except FaultPlanError as exc:
        print(f"gal-exec sim: error: --faults: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"gal-exec sim: error: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        print(json.dumps(simulator.endpoints()), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
