"""The pure parts of scale-out: epoch prefixes in cl_ord_ids, lease deadlines, key layout, URLs."""

from __future__ import annotations

import pytest

from gal_exec.config import ConfigError, decode_config
from gal_exec.core.fencing import EPOCH_MODULUS, LeaseClock, epoch_of, epoch_prefix
from gal_exec.core.ids import child_client_order_id, is_valid_cl_ord_id, new_client_order_id
from gal_exec.scaleout.keys import AccountKeys, parse_address


@pytest.mark.parametrize("epoch", [1, 2, 35, 36, 1295, 46655])
def test_epoch_prefix_round_trips_through_a_cl_ord_id_and_its_children(epoch: int) -> None:
    prefix = epoch_prefix(epoch)
    assert len(prefix) == 4 and prefix.isalnum()
    cl_ord_id = new_client_order_id(prefix)
    assert is_valid_cl_ord_id(cl_ord_id) and len(cl_ord_id) == 18
    assert epoch_of(cl_ord_id) == epoch
    for role in ("sl", "tp", "sl2"):
        assert epoch_of(child_client_order_id(cl_ord_id, role)) == epoch


def test_epochs_wrap_and_foreign_ids_carry_none() -> None:
    assert epoch_prefix(EPOCH_MODULUS + 5) == epoch_prefix(5)
    assert epoch_of(new_client_order_id()) is None  # the default prefix "g"
    assert epoch_of("e0") is None
    assert epoch_of("e0!zabc") is None
    with pytest.raises(ValueError, match="at least 1"):
        epoch_prefix(0)


def test_lease_clock_trusts_a_grant_until_ask_time_plus_ttl_minus_margin() -> None:
    clock = LeaseClock(margin_s=1.0)
    assert not clock.valid(0.0)
    clock.granted(asked_at=10.0, ttl_s=5.0)
    assert clock.valid(13.99) and not clock.valid(14.0)
    assert clock.remaining(13.0) == pytest.approx(1.0)
    clock.granted(asked_at=9.0, ttl_s=5.0)  # an older grant never shortens the deadline
    assert clock.valid(13.99)
    clock.lose()
    assert not clock.valid(10.0) and clock.remaining(10.0) == 0.0


def test_account_keys_share_one_cluster_slot() -> None:
    keys = AccountKeys(prefix="galexec", account="main-1")
    assert keys.signals == "galexec:{main-1}:signals"
    assert keys.dead_letters == "galexec:{main-1}:signals:dead"
    assert keys.reports == "galexec:{main-1}:reports"
    assert keys.lease == "galexec:{main-1}:lease"
    assert all("{main-1}" in key for key in keys.all())
    with pytest.raises(ValueError, match="account"):
        AccountKeys(prefix="galexec", account="a b")


def test_parse_address_splits_the_account_from_the_redis_url() -> None:
    address = parse_address("redis://10.0.0.5:6380/2?account=desk-a")
    assert address.url == "redis://10.0.0.5:6380/2" and address.account == "desk-a"
    assert parse_address("redis://h:1/0").account is None
    kept = parse_address("rediss://h:1/0?account=x&ssl_cert_reqs=required")
    assert kept.url == "rediss://h:1/0?ssl_cert_reqs=required"
    with pytest.raises(ValueError, match="redis://"):
        parse_address("http://h:1/0")
    with pytest.raises(ValueError, match="account"):
        parse_address("redis://h:1/0?account=a%20b")


def test_redis_config_defaults_and_cross_checks() -> None:
    config = decode_config({})
    assert config.redis.lease_ttl_s == 10.0 and config.redis.on_fence == "exit"
    with pytest.raises(ConfigError, match=r"redis\.lease_renew_s"):
        decode_config({"redis": {"lease_ttl_s": 3.0, "lease_renew_s": 1.5}})
    with pytest.raises(ConfigError, match=r"redis\.reports_max_age_s"):
        decode_config({"redis": {"reports_max_age_s": 60.0}})
    with pytest.raises(ConfigError, match=r"redis\.account"):
        decode_config({"redis": {"account": "no spaces"}})
