"""The main job behind ``gal-exec run``: start the engine, feed it signals, write reports, summarise."""

from __future__ import annotations

import argparse
import sys

from gal_exec.config import Config

__all__ = ["run_main"]


def run_main(config: Config, args: argparse.Namespace) -> int:
    """Run the engine per ``config`` and the command-line options; returns the exit status."""
    print(
        f"gal-exec: configuration valid (exchange.mode={config.exchange.mode}, "
        f"tier={config.exchange.tier}); the engine is not built yet",
        file=sys.stderr,
    )
    return 0
