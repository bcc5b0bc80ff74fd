"""The signed upload policy of the SDK's local-file flow (spec §6.2): issued at E2, verified at E3.

Kept apart from the upload store (`openasr.jobs.uploads`) because it is the security boundary of the
unauthenticated form upload: this module alone holds the signing secret and decides whether a form may
write a key; the store only moves bytes and records.

A policy is base64 JSON ``{expiration, upload_dir, model, owner, max_bytes}`` where `owner` is the key
id of the API key that asked (`openasr.core.keys.key_id`), and
``signature = base64(HMAC-SHA256(secret, "openasr-upload-policy\n" + policy))`` (the prefix keeps these
signatures apart from others made with the same secret, e.g. result URLs). The secret stays in the data
directory, so policies survive a restart and cannot be forged by clients.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from openasr.core.errors import AccessDeniedError, InvalidParameterError
from openasr.core.keys import key_id

ACCESS_KEY_ID = "openasr-local"
"""Stands in for OSS's access key id; the SDK echoes it back as ``OSSAccessKeyId``."""
KEY_ROOT = "dashscope-instant"
MAX_KEY_BYTES = 1023
"""OSS's limit on object key length (UTF-8 bytes)."""
_MIN_SECRET_BYTES = 16
_SIGNING_PURPOSE = b"openasr-upload-policy\n"


@dataclass(frozen=True)
class UploadPolicy:
    """A signed policy for one fresh `upload_dir` (E2): `policy` is base64 JSON, `signature` its HMAC."""

    policy: str
    signature: str
    upload_dir: str
    expires_in_s: float
    max_bytes: int


@dataclass(frozen=True)
class PolicyClaims:
    """What a verified policy allows: one `upload_dir`, until `expires_at`, at most `max_bytes`."""

    expires_at: float
    upload_dir: str
    model: str
    owner: str
    max_bytes: int


class PolicySigner:
    """Signs policies with `secret` and verifies the E3 forms that carry them."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"the signing secret must have at least {_MIN_SECRET_BYTES} bytes")
        self._secret = secret

    def issue(self, api_key: str | None, model: str, now: float, ttl_s: float, max_bytes: int) -> UploadPolicy:
        """A policy for a fresh `upload_dir`, good for `ttl_s` from `now`, for files up to `max_bytes`."""
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        upload_dir = f"{KEY_ROOT}/{secrets.token_hex(4)}/{day}/{secrets.token_hex(16)}"
        claims = {
            "expiration": _iso(now + ttl_s),
            "upload_dir": upload_dir,
            "model": model,
            "owner": key_id(api_key),
            "max_bytes": max_bytes,
        }
        policy = base64.b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode("ascii")
        return UploadPolicy(policy, self._sign(policy), upload_dir, ttl_s, max_bytes)

    def verify(self, form: Mapping[str, str], now: float) -> PolicyClaims:
        """The claims of the policy in `form` (field names lower-cased): signature checked in constant
        time, then expiry. Raises `AccessDeniedError` for a missing, forged, altered or expired policy."""
        policy = form.get("policy")
        signature = form.get("signature")
        if not policy or not signature:
            raise _denied("the form needs the fields policy and Signature")
        if form.get("ossaccesskeyid") != ACCESS_KEY_ID:
            raise _denied("unknown OSSAccessKeyId")
        try:
            expected = self._sign(policy).encode("ascii")
        except UnicodeEncodeError:
            raise _denied("signature does not match") from None
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            raise _denied("signature does not match")
        claims = _parse_claims(policy)
        if now >= claims.expires_at:
            raise _denied("Policy expired.")
        return claims

    def _sign(self, policy: str) -> str:
        mac = hmac.new(self._secret, _SIGNING_PURPOSE + policy.encode("ascii"), hashlib.sha256).digest()
        return base64.b64encode(mac).decode("ascii")


def check_key(key: str, upload_dir: str) -> None:
    """`key` must be ``<upload_dir>/<name>`` with one plain, printable file name (spaces, UTF-8 fine)."""
    prefix = upload_dir + "/"
    if not key.startswith(prefix):
        raise _denied(f'Policy Condition failed: ["starts-with", "$key", "{prefix}"]')
    name = key[len(prefix) :]
    if not name or name in (".", "..") or "/" in name:
        raise InvalidParameterError("key must be <upload_dir>/<file name>, one plain file name", param="key")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise InvalidParameterError("key must not contain control characters", param="key")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameterError("key is not valid UTF-8", param="key") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidParameterError(f"key is longer than {MAX_KEY_BYTES} bytes", param="key")


def _parse_claims(policy: str) -> PolicyClaims:
    """Decode a policy whose signature was verified (so a failure here means a policy of another format)."""
    try:
        raw = json.loads(base64.b64decode(policy, validate=True))
        expires_at = datetime.fromisoformat(raw["expiration"]).timestamp()
        claims = PolicyClaims(
            expires_at=expires_at,
            upload_dir=str(raw["upload_dir"]),
            model=str(raw["model"]),
            owner=str(raw["owner"]),
            max_bytes=int(raw["max_bytes"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _denied("malformed policy") from None
    if not claims.upload_dir or claims.max_bytes <= 0:
        raise _denied("malformed policy")
    return claims


def _denied(reason: str) -> AccessDeniedError:
    return AccessDeniedError(f"Invalid according to Policy: {reason}")


def _iso(epoch_s: float) -> str:
    """OSS's policy time format, e.g. ``2026-01-01T00:05:00.000Z``."""
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
