"""API-Sign against Kraken's documented vector; credentials that never reveal the secret."""

from __future__ import annotations

import base64
import json
import pickle
from pathlib import Path

import pytest

from gal_exec.kraken.auth import Credentials, load_credentials, redact, sign, validate_secret
from gal_exec.kraken.errors import CredentialsError

SECRET = base64.b64encode(bytes(range(64))).decode()


def test_sign_matches_documented_vector(samples_dir: Path) -> None:
    vector = json.loads((samples_dir / "auth-signing-test-vector-1.json").read_text())
    signature = sign(
        vector["private_key_base64"],
        vector["uri_path"],
        int(vector["nonce"]),
        vector["post_data"].encode(),
    )
    assert signature == vector["expected_api_sign"]


def test_credentials_sign_equals_sign(samples_dir: Path) -> None:
    vector = json.loads((samples_dir / "auth-signing-test-vector-1.json").read_text())
    credentials = Credentials("key", vector["private_key_base64"])
    body = vector["post_data"].encode()
    assert (
        credentials.sign(vector["uri_path"], int(vector["nonce"]), body)
        == (vector["expected_api_sign"])
    )


def test_signature_depends_on_every_input() -> None:
    base = sign(SECRET, "/0/private/AddOrder", 1, b"nonce=1&a=b")
    assert sign(SECRET, "/0/private/CancelOrder", 1, b"nonce=1&a=b") != base
    assert sign(SECRET, "/0/private/AddOrder", 2, b"nonce=1&a=b") != base
    assert sign(SECRET, "/0/private/AddOrder", 1, b"nonce=1&a=c") != base


def test_validate_secret_returns_64_bytes() -> None:
    assert validate_secret(SECRET) == bytes(range(64))


@pytest.mark.parametrize(
    "secret",
    [
        "not base64 at all!!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(bytes(65)).decode(),
        "",
        SECRET[:-2],  # broken padding
    ],
)
def test_validate_secret_rejects_without_echoing(secret: str) -> None:
    with pytest.raises(CredentialsError) as caught:
        validate_secret(secret)
    if secret:
        assert secret not in str(caught.value)
    # No chained decoder error whose text could quote the secret in a traceback.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_credentials_repr_redacts() -> None:
    credentials = Credentials("ABCDEFGHIJKLMNOP", SECRET)
    text = repr(credentials) + str(credentials) + f"{credentials}"
    assert SECRET not in text
    assert "ABCDEFGHIJKLMNOP" not in text
    assert "<redacted>" in text


def test_credentials_refuse_pickling() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Credentials("key", SECRET))


def test_credentials_reject_empty_key() -> None:
    with pytest.raises(CredentialsError, match="API key is empty"):
        Credentials("  ", SECRET)


def test_load_credentials_from_environment() -> None:
    environ = {"K": "my-key", "S": SECRET + "\n"}
    credentials = load_credentials("K", "S", environ=environ)
    assert credentials.api_key == "my-key"
    assert credentials.api_secret == SECRET


@pytest.mark.parametrize("missing", ["K", "S"])
def test_load_credentials_names_missing_variable(missing: str) -> None:
    environ = {"K": "my-key", "S": SECRET}
    del environ[missing]
    with pytest.raises(CredentialsError, match=f"environment variable {missing} is not set"):
        load_credentials("K", "S", environ=environ)


def test_load_credentials_names_malformed_secret_variable_not_value() -> None:
    bad = base64.b64encode(b"x" * 20).decode()
    with pytest.raises(CredentialsError) as caught:
        load_credentials("K", "GAL_SECRET", environ={"K": "key", "GAL_SECRET": bad})
    message = str(caught.value)
    assert "GAL_SECRET" in message
    assert bad not in message
    assert "20 bytes" in message


def test_redact_hides_tokens_and_headers() -> None:
    text = redact('{"result":{"token":"abc123","expires":900}} otp=99&x=1 API-Sign=zzz')
    assert "abc123" not in text and "99" not in text and "zzz" not in text
    assert '"expires":900' in text and "x=1" in text


SECRET_LIKE = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)


@pytest.mark.parametrize("pasted", [SECRET_LIKE, "key with spaces", "", "9LEADING_DIGIT"])
@pytest.mark.parametrize("which", ["key", "secret"])
def test_a_secret_pasted_as_a_variable_name_is_never_printed(pasted: str, which: str) -> None:
    names = ("KRAKEN_API_KEY", pasted) if which == "secret" else (pasted, "KRAKEN_API_SECRET")
    with pytest.raises(CredentialsError) as caught:
        load_credentials(*names, environ={})
    message = str(caught.value)
    setting = "api_secret_env" if which == "secret" else "api_key_env"
    assert message.startswith(f"exchange.{setting} holds something that is not an environment")
    assert not pasted or pasted not in message
