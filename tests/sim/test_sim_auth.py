"""Signing and nonce checks: the simulator refuses requests exactly as Kraken does."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sim_testkit import Client, simulator

from gal_exec.sim import DEMO_API_SECRET
from gal_exec.sim.auth import NonceTracker, decode_secret, sign, verify
from tests.kraken_samples import SAMPLES_DIR

SAMPLES = SAMPLES_DIR
OTHER_SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)


@pytest.fixture(scope="module")
def sim() -> Iterator:
    with simulator() as running:
        running.exchange.add_account("windowed", OTHER_SECRET, {"ZUSD": 1000}, nonce_window=1000)
        yield running


@pytest.fixture
def client(sim) -> Client:
    return Client(sim.rest_url)


def test_documented_signing_vector() -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"Kraken samples not found at {SAMPLES} (clone shared/ beside the repo)")
    vector = json.loads((SAMPLES / "auth-signing-test-vector-1.json").read_text())
    key = decode_secret(vector["private_key_base64"])
    body = vector["post_data"].encode()
    assert sign(key, vector["uri_path"], vector["nonce"], body) == vector["expected_api_sign"]
    assert verify(key, vector["uri_path"], vector["nonce"], body, vector["expected_api_sign"])
    assert not verify(
        key, vector["uri_path"], vector["nonce"], body + b"&x=1", vector["expected_api_sign"]
    )


def test_demo_secret_is_64_bytes_of_base64() -> None:
    assert len(decode_secret(DEMO_API_SECRET)) == 64
    with pytest.raises(ValueError, match="64"):
        decode_secret("c2hvcnQ=")


def test_valid_request_is_accepted(client: Client) -> None:
    assert "ZUSD" in client.ok("Balance")


def test_unknown_key(client: Client) -> None:
    assert client.error("Balance", key="nobody") == "EAPI:Invalid key"


def test_wrong_secret(client: Client) -> None:
    assert client.error("Balance", secret=OTHER_SECRET) == "EAPI:Invalid signature"


def test_signature_over_other_bytes_than_sent(client: Client) -> None:
    assert client.error("Balance", sign_body=b"nonce=1") == "EAPI:Invalid signature"


def test_json_body_is_verified_over_its_raw_text(client: Client) -> None:
    assert "ZUSD" in client.ok("Balance", json_body=True)
    nonce = client.nonce()
    sent = json.dumps({"nonce": nonce}).encode()
    respaced = json.dumps({"nonce": nonce}, separators=(",", ":")).encode()
    assert sent != respaced
    error = client.error("Balance", nonce=nonce, json_body=True, sign_body=respaced)
    assert error == "EAPI:Invalid signature"


def test_repeated_and_lower_nonces(client: Client) -> None:
    nonce = client.nonce() + 10**12
    client.ok("Balance", nonce=nonce)
    assert client.error("Balance", nonce=nonce) == "EAPI:Invalid nonce"
    assert client.error("Balance", nonce=nonce - 1) == "EAPI:Invalid nonce"
    client.ok("Balance", nonce=nonce + 1)


def test_missing_nonce(client: Client) -> None:
    _, body = client.request(
        "POST", "/0/private/Balance", b"", {"API-Key": client.key, "API-Sign": "x"}
    )
    assert json.loads(body) == {"error": ["EAPI:Invalid nonce"]}


def test_nonce_window_accepts_late_but_never_twice(sim, client: Client) -> None:
    windowed = Client(sim.rest_url, key="windowed", secret=OTHER_SECRET)
    base = windowed.nonce()
    windowed.ok("Balance", nonce=base + 500)
    windowed.ok("Balance", nonce=base + 100)
    assert windowed.error("Balance", nonce=base + 100) == "EAPI:Invalid nonce"
    assert windowed.error("Balance", nonce=base - 600) == "EAPI:Invalid nonce"


def test_nonce_tracker_without_window() -> None:
    tracker = NonceTracker()
    assert tracker.accept(5) and tracker.accept(6)
    assert not tracker.accept(6) and not tracker.accept(4) and not tracker.accept(0)
