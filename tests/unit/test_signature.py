"""Meta's X-Hub-Signature-256 over the raw request body."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import pytest

from shared.domain.signature import sign, verify_signature

SECRET = "unit-app-secret"
BODY = b'{"object": "whatsapp_business_account", "entry": []}'


def test_sign_is_the_documented_hmac() -> None:
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET) == f"sha256={expected}"


@pytest.mark.parametrize("body", [b"", BODY, "olá, ação".encode(), bytes(range(256))])
def test_round_trip_over_raw_bytes(body: bytes) -> None:
    assert verify_signature(body, sign(body, SECRET), SECRET)


def test_pretty_printed_fixture_verifies_but_reserialised_json_does_not(
    load_fixture: Callable[[str], bytes],
) -> None:
    raw = load_fixture("text_message.json")
    header = sign(raw, SECRET)
    assert verify_signature(raw, header, SECRET)
    compact = json.dumps(json.loads(raw), separators=(",", ":")).encode()
    reindented = json.dumps(json.loads(raw), indent=2).encode()
    assert compact != raw
    assert not verify_signature(compact, header, SECRET)
    if reindented != raw:
        assert not verify_signature(reindented, header, SECRET)


def test_wrong_secret_is_rejected() -> None:
    assert not verify_signature(BODY, sign(BODY, "another-secret"), SECRET)


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_rejected(header: str | None) -> None:
    assert not verify_signature(BODY, header, SECRET)


def test_header_without_prefix_is_rejected() -> None:
    digest = sign(BODY, SECRET).removeprefix("sha256=")
    assert not verify_signature(BODY, digest, SECRET)
    assert not verify_signature(BODY, f"sha1={digest}", SECRET)


def test_prefix_is_case_sensitive() -> None:
    digest = sign(BODY, SECRET).removeprefix("sha256=")
    assert not verify_signature(BODY, f"SHA256={digest}", SECRET)


def test_tampered_body_is_rejected() -> None:
    header = sign(BODY, SECRET)
    assert not verify_signature(BODY.replace(b"[]", b"[{}]"), header, SECRET)
    assert not verify_signature(BODY + b"\n", header, SECRET)


def test_truncated_digest_is_rejected() -> None:
    assert not verify_signature(BODY, sign(BODY, SECRET)[:-2], SECRET)


def test_empty_secret_never_verifies() -> None:
    # Even a header computed with the empty key must not pass: an unset secret fails closed.
    assert not verify_signature(BODY, sign(BODY, ""), "")


def test_uppercase_hex_digest_is_accepted() -> None:
    # The code lower-cases the header on purpose: hex digits are case-insensitive.
    digest = sign(BODY, SECRET).removeprefix("sha256=")
    assert digest != digest.upper()
    assert verify_signature(BODY, "sha256=" + digest.upper(), SECRET)


def test_trailing_whitespace_in_header_is_tolerated() -> None:
    assert verify_signature(BODY, sign(BODY, SECRET) + " \r\n", SECRET)
