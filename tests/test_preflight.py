"""gal-exec check against the simulator: a good key, a bad key, a read-only key, a key that can
withdraw, the clock, the exchange's status, the journal of a running engine, paper mode's feed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from gal_exec.config import (
    Config,
    ExchangeConfig,
    JournalConfig,
    MarketDataConfig,
    PaperConfig,
    SimConfig,
)
from gal_exec.journal import Journal
from gal_exec.preflight import nonce_state_path
from gal_exec.preflight_cli import check_command, format_results, run_checks
from gal_exec.sim.permissions import ALL_PERMISSIONS
from gal_exec.sim.server import Simulator

pytestmark = pytest.mark.timeout(60)

SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
TRADING = [
    "query-funds",
    "query-open-trades",
    "query-closed-trades",
    "modify-trades",
    "cancel-close-trades",
    "access-websocket",
]


def live_config(sim: Simulator, tmp_path: Path) -> Config:
    return Config(
        exchange=ExchangeConfig(
            mode="kraken",
            rest_url=sim.rest_url,
            ws_url=sim.ws_url or "",
            ws_auth_url=sim.ws_auth_url or "",
            api_key_env="CHECK_KEY",
            api_secret_env="CHECK_SECRET",
        ),
        market_data=MarketDataConfig(pairs=["XBT/USD"]),
        journal=JournalConfig(path=str(tmp_path / "journal.sqlite")),
    )


def add_key(sim: Simulator, key: str, permissions: list[str], **extra) -> dict[str, str]:
    body = {"api_key": key, "api_secret": SECRET, "permissions": permissions, **extra}
    requests.post(f"{sim.control_url}/accounts", json=body, timeout=5).raise_for_status()
    return {"CHECK_KEY": key, "CHECK_SECRET": SECRET}


def by_name(results) -> dict[str, tuple[str, str]]:
    return {result.name: (result.status, result.detail) for result in results}


@pytest.fixture
def sim():
    with Simulator() as running:
        yield running


def test_a_good_key_passes_every_check(sim, tmp_path):
    env = add_key(sim, "good", TRADING, name="trading-bot")
    results = by_name(run_checks(live_config(sim, tmp_path), environ=env))
    assert [name for name, (status, _) in results.items() if status != "ok"] == []
    assert list(results) == [
        "exchange",
        "credentials",
        "journal",
        "system status",
        "clock",
        "rate limits",
        "api key",
        "permissions",
        "withdraw",
        "nonce window",
        "websocket token",
        "balances",
        "dead man's switch",
    ]
    assert results["api key"][1].startswith("accepted: 'trading-bot', permissions query-funds")
    assert results["balances"][1] == "XBT/USD: XXBT 100.0000000000, ZUSD 10000000.0000"
    assert "REST counter max 15, decays 0.33/s" in results["rate limits"][1]
    assert results["dead man's switch"][1].startswith("armed for 60 s (trigger ")
    # Armed and disarmed: nothing is left to cancel the account's orders.
    assert sim.exchange.engine.accounts["good"].dead_man_at is None
    # The nonces continue where the next engine on this journal will look.
    assert nonce_state_path(tmp_path / "journal.sqlite").exists()


def test_a_bad_key_fails_and_stops_there(sim, tmp_path):
    env = {"CHECK_KEY": "nobody", "CHECK_SECRET": SECRET}
    results = by_name(run_checks(live_config(sim, tmp_path), environ=env))
    assert results["api key"] == ("fail", "refused: EAPI:Invalid key")
    assert "dead man's switch" not in results and "balances" not in results


def test_a_read_only_key_fails_on_its_missing_permissions(sim, tmp_path):
    env = add_key(sim, "reader", ["query-funds", "query-open-trades"])
    results = by_name(run_checks(live_config(sim, tmp_path), environ=env))
    status, detail = results["permissions"]
    assert status == "fail" and detail.startswith("missing modify-trades:")
    assert results["websocket token"] == (
        "fail",
        "GetWebSocketsToken: Kraken returned EGeneral:Permission denied",
    )
    assert results["dead man's switch"][0] == "fail"
    assert "EGeneral:Permission denied" in results["dead man's switch"][1]


def test_a_key_that_can_withdraw_is_a_loud_warning_and_fails_strict(sim, tmp_path, capsys):
    env = add_key(sim, "too-much", list(ALL_PERMISSIONS))
    results = run_checks(live_config(sim, tmp_path), environ=env)
    status, detail = by_name(results)["withdraw"]
    assert status == "warn" and detail.startswith(
        "!!! THIS KEY CAN WITHDRAW FUNDS (withdraw-funds)"
    )
    assert not any(result.status == "fail" for result in results)
    line = next(line for line in format_results(results).splitlines() if " withdraw " in line)
    assert line.startswith("warn  withdraw ")


def test_missing_credentials_fail_without_touching_the_exchange(sim, tmp_path):
    results = by_name(run_checks(live_config(sim, tmp_path), environ={}))
    assert results["credentials"] == (
        "fail",
        "environment variable CHECK_KEY is not set or empty",
    )
    assert "api key" not in results


def test_clock_offset_and_exchange_status_warn(tmp_path):
    with Simulator(SimConfig(clock="manual")) as sim:
        env = add_key(sim, "good", TRADING)
        requests.post(f"{sim.control_url}/advance", json={"seconds": 30}, timeout=5)
        requests.post(f"{sim.control_url}/status", json={"status": "maintenance"}, timeout=5)
        results = by_name(run_checks(live_config(sim, tmp_path), environ=env))
    status, detail = results["clock"]
    assert status == "warn" and "above 2 s: sync this clock (NTP)" in detail
    assert abs(float(detail.split()[1]) - 30) <= 1  # "offset +29.7 s ...": whole-second Time
    assert results["system status"][0] == "warn"
    assert results["system status"][1].startswith("maintenance since ")


def test_a_running_engines_journal_is_a_warning_and_no_private_call_is_made(sim, tmp_path):
    env = add_key(sim, "good", TRADING)
    sim.exchange.cancel_all_orders_after("good", 600)  # the running engine's switch
    armed_at = sim.exchange.engine.accounts["good"].dead_man_at
    with Journal.open(tmp_path / "journal.sqlite"):
        results = by_name(run_checks(live_config(sim, tmp_path), environ=env))
    status, detail = results["journal"]
    assert status == "warn" and "locked by another engine" in detail
    assert results["private calls"][0] == "warn"
    assert "api key" not in results and "dead man's switch" not in results
    assert sim.exchange.engine.accounts["good"].dead_man_at == armed_at


def test_an_idle_journal_gets_a_preflight_event(sim, tmp_path):
    env = add_key(sim, "good", TRADING)
    Journal.open(tmp_path / "journal.sqlite").close()
    results = by_name(run_checks(live_config(sim, tmp_path), environ=env))
    assert (
        results["journal"][0] == "ok" and "a preflight event was recorded" in results["journal"][1]
    )
    with Journal.open(tmp_path / "journal.sqlite", read_only=True) as journal:
        kinds = [event.kind for event in journal.events()]
    assert "preflight" in kinds


def test_paper_mode_checks_its_feed(tmp_path):
    with Simulator(SimConfig(clock="manual")) as source:
        feed_url = source.ws_url or ""
        config = Config(
            exchange=ExchangeConfig(mode="paper"),
            paper=PaperConfig(feed_url=feed_url),
            market_data=MarketDataConfig(pairs=["XBT/USD"]),
            journal=JournalConfig(path=str(tmp_path / "journal.sqlite")),
        )
        good = by_name(run_checks(config, environ={}))
    assert good["price feed"] == ("ok", f"{feed_url} quotes BTC/USD")
    assert good["exchange"][1].startswith("paper: http://127.0.0.1:")
    nowhere = Config(
        exchange=ExchangeConfig(mode="paper"),
        paper=PaperConfig(feed_url="ws://127.0.0.1:9/v2"),
        market_data=MarketDataConfig(pairs=["XBT/USD"]),
        journal=JournalConfig(path=str(tmp_path / "journal.sqlite")),
    )
    bad = by_name(run_checks(nowhere, environ={}, feed_wait_s=0.5))
    assert bad["price feed"] == (
        "fail",
        "no quote for BTC/USD from ws://127.0.0.1:9/v2 within 0.5 s",
    )


def test_json_output_and_exit_status(sim, tmp_path, capsys, monkeypatch):
    config = tmp_path / "live.toml"
    config.write_text(
        f'[exchange]\nmode = "kraken"\nrest_url = "{sim.rest_url}"\n'
        'api_key_env = "CHECK_KEY"\napi_secret_env = "CHECK_SECRET"\n'
        '[market_data]\npairs = ["XBT/USD"]\n'
        f'[journal]\npath = "{tmp_path / "j.sqlite"}"\n'
    )
    for name, value in add_key(sim, "wide", list(ALL_PERMISSIONS)).items():
        monkeypatch.setenv(name, value)
    assert check_command(["--config", str(config), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["ok"] is True and answer["mode"] == "kraken"
    withdraw = next(check for check in answer["checks"] if check["name"] == "withdraw")
    assert withdraw["status"] == "warn" and withdraw["detail"].startswith("!!! THIS KEY CAN")
    assert check_command(["--config", str(config), "--strict"]) == 1
    monkeypatch.setenv("CHECK_KEY", "nobody")
    assert check_command(["--config", str(config)]) == 1
    assert "FAIL  api key" in capsys.readouterr().out


def test_the_command_never_prints_the_secret_or_the_key(sim, tmp_path):
    key = "RECOGNISABLEKEY" + "x" * 41
    add_key(sim, key, TRADING)
    config = tmp_path / "live.toml"
    config.write_text(
        f'[exchange]\nmode = "kraken"\nrest_url = "{sim.rest_url}"\n'
        '[market_data]\npairs = ["XBT/USD"]\n'
        f'[journal]\npath = "{tmp_path / "j.sqlite"}"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "gal_exec", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"KRAKEN_API_KEY": key, "KRAKEN_API_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    dead man's switch" in result.stdout
    for needle in (key, SECRET, SECRET[:20], "RECOGNISABLEKEY"):
        assert needle not in result.stdout + result.stderr


def test_the_switch_is_left_armed_over_orders_a_stopped_engine_left_open(
    sim, tmp_path, monkeypatch
):
    from decimal import Decimal

    from gal_exec.engine import Engine
    from gal_exec.messages import TradeSignalApproved

    env = add_key(sim, "good", TRADING)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = live_config(sim, tmp_path)
    resting = threading.Event()
    engine = Engine.start(config, callbacks=[lambda r: r.status == "open" and resting.set()])
    try:
        engine.submit(
            TradeSignalApproved(
                signal_id="resting",
                pair="XBT/USD",
                side="buy",
                order_type="limit",
                quantity=Decimal("0.01"),
                limit_price=Decimal("50000.0"),
            )
        )
        assert resting.wait(20)
    finally:
        engine.stop(cancel_open=False)
    assert [o["status"] for o in sim.exchange.dump_orders()] == ["open"]
    results = by_name(run_checks(config, environ=env))
    assert results["journal"][1].endswith("; 1 live orders from the last run")
    status, detail = results["dead man's switch"]
    assert status == "ok" and detail.startswith(
        "armed for 60 s and left armed: the journal holds 1"
    )
    assert sim.exchange.engine.accounts["good"].dead_man_at is not None
