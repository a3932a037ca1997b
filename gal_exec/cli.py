"""The ``gal-exec`` command: ``run`` (the main job), ``sim`` (the simulator alone), ``orders`` (the
journal), ``check`` (the preflight before going live).

Every user-facing failure is one line on standard error and a non-zero exit status; a configuration
problem exits 2; a reader that closes standard output early (``gal-exec orders | head``) ends the
command quietly with 141.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from gal_exec import __version__
from gal_exec.config import ConfigError, load_config

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gal-exec", description="Order lifecycle engine for Kraken spot.")
    parser.add_argument("--version", action="version", version=f"gal-exec {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser("run", help="run the engine (on the embedded simulator by default)")
    run.add_argument("--config", help="configuration file (default: ./config.toml if present)")
    run.add_argument("--signals", help="JSON-lines file of signals, or - for standard input")
    run.add_argument("--reports", help="write every ExecutionReport as a JSON line to this file")
    run.add_argument("--journal", help="the SQLite journal (overrides journal.path)")
    run.add_argument(
        "--until-done",
        action="store_true",
        help="exit once the input has ended and every order is terminal, with a summary",
    )
    run.add_argument("--log-json", action="store_true", help="log JSON lines instead of text")
    run.add_argument(
        "--intake",
        metavar="redis://HOST:PORT/DB?account=NAME",
        help="take signals from the account's Redis stream, one live engine per account "
        "(docs/scale-out.md)",
    )

    commands.add_parser("sim", help="run the Kraken simulator standalone", add_help=False)
    commands.add_parser("orders", help="list orders from the journal", add_help=False)
    commands.add_parser("send", help="publish signals to an account's Redis stream", add_help=False)
    commands.add_parser("reports", help="print an account's Redis report stream", add_help=False)
    commands.add_parser(
        "check",
        help="preflight: key, permissions, clock, balances, dead man's switch, journal",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status. A closed standard output (``| head``) ends
    the command quietly with 141, as SIGPIPE would."""
    try:
        return _main(argv)
    except BrokenPipeError:
        _silence_stdout()
        return 128 + signal.SIGPIPE


def _silence_stdout() -> None:
    """Point standard output at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "sim":
        from gal_exec.sim.server import run_standalone

        return run_standalone(args_list[1:])
    if args_list and args_list[0] == "orders":
        from gal_exec.journal import orders_command

        return orders_command(args_list[1:])
    if args_list and args_list[0] == "check":
        from gal_exec.preflight_cli import check_command

        return check_command(args_list[1:])

    if args_list and args_list[0] in ("send", "reports"):
        from gal_exec.scaleout.commands import reports_command, send_command

        command = send_command if args_list[0] == "send" else reports_command
        return command(args_list[1:])

    parser = _build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    from gal_exec.runner import run_main

    try:
        return run_main(config, args)
    except KeyboardInterrupt:
        print("gal-exec: interrupted", file=sys.stderr)
        return 130
