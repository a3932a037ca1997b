"""The ownership lease on a real Redis: one owner at a time, increasing epochs, fenced writes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gal_exec.scaleout.broker import FENCED, Broker, connect
from gal_exec.scaleout.keys import AccountKeys
from gal_exec.scaleout.lease import Lease

pytestmark = pytest.mark.timeout(30)


class ManualMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_lease(
    redis_url: str, keys: AccountKeys, owner: str, *, clock: Any = None, **options: Any
) -> Lease:
    settings = {"ttl_s": 5.0, "renew_s": 1.0, "margin_s": 0.5, **options}
    extra = {"monotonic": clock} if clock is not None else {}
    return Lease(Broker(connect(redis_url)), keys, owner=owner, **settings, **extra)


def test_one_owner_at_a_time_and_epochs_increase(redis_url: str, redis_prefix: str) -> None:
    keys = AccountKeys(prefix=redis_prefix, account="acct")
    first = make_lease(redis_url, keys, "first")
    second = make_lease(redis_url, keys, "second")
    assert first.try_acquire() is None
    assert first.epoch == 1 and first.token == "1:first" and first.valid()
    wait = second.try_acquire()
    assert wait is not None and 0 < wait <= second.renew_s  # held: try again within the TTL
    first.stop(release=True)
    assert second.try_acquire() is None
    assert second.epoch == 2 and second.valid()
    assert first.broker.holder(keys.lease) == "2:second"
    second.stop(release=True)


def test_epoch_floor_survives_a_broker_that_forgot(redis_url: str, redis_prefix: str) -> None:
    """A wiped Redis restarts the counter; the journals' epochs keep it increasing."""
    keys = AccountKeys(prefix=redis_prefix, account="acct")
    lease = make_lease(redis_url, keys, "one")
    assert lease.try_acquire(floor=8) is None
    assert lease.epoch == 8 and not lease.broker_remembered
    lease.stop(release=True)
    again = make_lease(redis_url, keys, "two")
    assert again.try_acquire(floor=3) is None
    assert again.epoch == 9 and again.broker_remembered
    again.stop(release=True)


def test_lease_is_trusted_only_until_ask_time_plus_ttl_minus_margin(
    redis_url: str, redis_prefix: str
) -> None:
    clock = ManualMonotonic()
    keys = AccountKeys(prefix=redis_prefix, account="acct")
    lease = make_lease(redis_url, keys, "me", clock=clock)
    assert lease.try_acquire() is None
    clock.now += 4.49
    assert lease.valid() and lease.refusal() is None
    clock.now += 0.02  # past 5.0 - 0.5: a paused owner stops here, before the key can expire
    assert not lease.valid()
    refusal = lease.refusal()
    assert refusal is not None and "no longer owns account acct" in refusal


def test_renewal_after_local_expiry_is_refused_for_good(redis_url: str, redis_prefix: str) -> None:
    """An owner that wakes up past its deadline never resumes, even if the key is still its own."""
    clock = ManualMonotonic()
    keys = AccountKeys(prefix=redis_prefix, account="acct")
    lost: list[str] = []
    called = threading.Event()

    def on_lost(reason: str) -> None:
        lost.append(reason)
        called.set()

    lease = make_lease(redis_url, keys, "me", clock=clock, renew_s=0.05)
    lease.on_lost = on_lost
    assert lease.try_acquire() is None
    clock.now += 10.0
    lease.start()
    assert called.wait(5)
    assert lost == ["its lease ran out before it was renewed"]
    assert not lease.valid()
    lease.stop(release=True)
    assert lease.broker.holder(keys.lease) is None  # released for the standby at once


def test_lease_taken_by_another_is_noticed_by_the_renewer(
    redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    keys = AccountKeys(prefix=redis_prefix, account="acct")
    called = threading.Event()
    lease = make_lease(redis_url, keys, "me", renew_s=0.05)
    lease.on_lost = lambda reason: called.set()
    assert lease.try_acquire() is None
    redis_client.set(keys.lease, "7:someone-else", px=5000)
    lease.start()
    assert called.wait(5)
    assert lease.lost_reason == "the lease is held by 7:someone-else"
    lease.stop(release=True)
    assert redis_client.get(keys.lease) == b"7:someone-else"  # never deletes another's lease


def test_fenced_scripts_act_only_for_the_current_token(
    redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    keys = AccountKeys(prefix=redis_prefix, account="acct")
    broker = Broker(connect(redis_url))
    lease = make_lease(redis_url, keys, "old")
    assert lease.try_acquire() is None
    old_token = lease.token
    redis_client.xgroup_create(keys.signals, "g", id="0", mkstream=True)
    entry = redis_client.xadd(keys.signals, {"msg": "{}"}).decode()
    redis_client.xreadgroup("g", "c", {keys.signals: ">"})
    redis_client.delete(keys.lease)  # expired; a successor takes it
    successor = make_lease(redis_url, keys, "new")
    assert successor.try_acquire() is None
    assert broker.ack(keys.lease, old_token, keys.signals, "g", [entry]) == FENCED
    assert broker.publish(keys.lease, old_token, keys.reports, [b"{}"], ("", "")) == FENCED
    dead = broker.dead_letter(
        keys.lease,
        old_token,
        keys.signals,
        "g",
        keys.dead_letters,
        maxlen=10,
        entry_id=entry,
        reason="x",
        raw=b"x",
    )
    assert dead == FENCED
    assert redis_client.xpending(keys.signals, "g")["pending"] == 1
    assert redis_client.exists(keys.reports, keys.dead_letters) == 0
    assert broker.ack(keys.lease, successor.token, keys.signals, "g", [entry]) == 1
    successor.stop(release=True)
