"""Unit tests of fusou-web's shared code: token checks and upload input validation."""

from __future__ import annotations

import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from _lib.auth import AuthError, authenticate
from _lib.validation import InputError, check_name, inspect_parquet, schema_fingerprint
from fixtures import fragments as fr
from fixtures import jwt as tokens

import compaction


class Env:
    def __init__(self, **values: str) -> None:
        s = tokens.dev_settings()
        self.JWT_SECRET = s["secret"]
        self.JWT_ISSUER = s["issuer"]
        self.JWT_AUDIENCE = s["audience"]
        for k, v in values.items():
            setattr(self, k, v)


def test_a_dev_token_authenticates_its_subject() -> None:
    caller = authenticate(Env(), f"Bearer {tokens.mint('alice')}")
    assert caller.user_id == "alice"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing bearer token"),
        ("Basic abc", "missing bearer token"),
        ("Bearer " + tokens.expired("alice"), "expired"),
        ("Bearer " + tokens.wrong_signature("alice"), "bad signature"),
        ("Bearer " + tokens.alg_none("alice"), "algorithm not allowed"),
        ("Bearer not.a.jwt", "invalid token"),
        # Header bytes that are not ASCII: as the runtime hands them on (U+FFFD for bytes that
        # are not UTF-8), or as lone surrogates; none of them may become a 500.
        ("Bearer \ufffd\ufffd", "printable ASCII"),
        ("Bearer \udcff\udcfe", "printable ASCII"),
        ("Bearer é.é.é", "printable ASCII"),
        ("Bearer a\x00b", "printable ASCII"),
    ],
)
def test_bad_tokens_are_refused(header: str | None, message: str) -> None:
    with pytest.raises(AuthError) as info:
        authenticate(Env(), header)
    assert info.value.status == 401
    assert message in str(info.value)


def test_issuer_audience_and_expiry_are_required() -> None:
    secret = tokens.dev_settings()["secret"]
    base = tokens.claims("alice")
    for drop in ("exp", "iss", "aud", "sub"):
        token = pyjwt.encode({k: v for k, v in base.items() if k != drop}, secret, algorithm="HS256")
        with pytest.raises(AuthError):
            authenticate(Env(), f"Bearer {token}")
    wrong_aud = pyjwt.encode({**base, "aud": "someone-else"}, secret, algorithm="HS256")
    with pytest.raises(AuthError, match=r"(?i)audience"):
        authenticate(Env(), f"Bearer {wrong_aud}")


def test_es256_with_a_configured_public_key_and_no_hs256_confusion() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    env = Env(JWT_PUBLIC_KEY=pem, JWT_ALGORITHM="ES256")
    good = pyjwt.encode(tokens.claims("bob"), key, algorithm="ES256")
    assert authenticate(env, f"Bearer {good}").user_id == "bob"
    # An HS256 token "signed" with the public key text must not pass (algorithm pinned).
    forged = tokens.mint("bob")
    with pytest.raises(AuthError, match="algorithm not allowed"):
        authenticate(env, f"Bearer {forged}")


def test_missing_secret_is_a_server_error() -> None:
    env = Env()
    env.JWT_SECRET = ""
    with pytest.raises(AuthError) as info:
        authenticate(env, f"Bearer {tokens.mint('a')}")
    assert info.value.status == 500


@pytest.mark.parametrize("value", ["battle", "2025-12-20", "a.b_c-1", "x" * 64])
def test_good_names(value: str) -> None:
    assert check_name("table", value) == value


@pytest.mark.parametrize("value", ["", None, "..", ".", "a/b", "x" * 65, "é", "a b"])
def test_bad_names_name_the_field(value: object) -> None:
    with pytest.raises(InputError, match='"periodTag"'):
        check_name("periodTag", value)


def test_parquet_inspection() -> None:
    info = inspect_parquet(fr.fragment("own_ship", 0, 50))
    assert (info.rows, info.columns) == (50, len(fr.SCHEMAS["own_ship"]))
    # The web app and the workflow fingerprint schemas identically.
    assert info.fingerprint == compaction.schema_fingerprint(fr.SCHEMAS["own_ship"])
    assert schema_fingerprint(fr.SCHEMAS["own_ship"]) == info.fingerprint
    assert inspect_parquet(fr.empty_fragment("battle")).rows == 0
    for bad in (fr.NOT_PARQUET, fr.truncated(fr.fragment("battle", 0, 50)), b"PAR1" * 3 + b"PAR1"):
        with pytest.raises(InputError, match='"file"'):
            inspect_parquet(bad)


def test_jwt_cli_prints_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    assert tokens.main(["--sub", "carol"]) == 0
    token = capsys.readouterr().out.strip()
    s = tokens.dev_settings()
    claims = pyjwt.decode(token, s["secret"], algorithms=["HS256"], audience=s["audience"])
    assert claims["sub"] == "carol" and claims["exp"] > time.time()
