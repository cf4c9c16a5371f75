"""Signatures, secret encryption and URL checks, as plain functions."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from flamenco.notifications import crypto, signing, validation

BODY = b'{"id":"e1","type":"job.completed"}'
SECRET = "whsec_test-secret"
NOW = 1_700_000_000


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signing.signature(SECRET, NOW, BODY) == "sha256=" + expected
    headers = signing.signature_headers(SECRET, NOW, BODY)
    assert headers == {"X-Flamenco-Timestamp": str(NOW), "X-Flamenco-Signature": "sha256=" + expected}


def test_verify_accepts_the_right_signature_within_tolerance():
    headers = signing.signature_headers(SECRET, NOW, BODY)
    assert signing.verify(SECRET, BODY, headers["X-Flamenco-Timestamp"], headers["X-Flamenco-Signature"],
                          now=NOW + 299)


@pytest.mark.parametrize("secret, body, timestamp, now", [
    ("whsec_other", BODY, NOW, NOW),                       # wrong secret
    (SECRET, BODY + b" ", NOW, NOW),                       # body changed
    (SECRET, BODY, NOW, NOW + 301),                        # replayed too late
    (SECRET, BODY, NOW, NOW - 301),                        # from the future
])
def test_verify_refuses_tampering_and_replays(secret, body, timestamp, now):
    headers = signing.signature_headers(SECRET, timestamp, BODY)
    assert not signing.verify(secret, body, headers["X-Flamenco-Timestamp"], headers["X-Flamenco-Signature"],
                              now=now)


def test_verify_refuses_a_signature_moved_to_another_timestamp():
    """The timestamp is signed: an attacker cannot refresh it on a captured request."""
    old = signing.signature_headers(SECRET, NOW - 3600, BODY)
    assert not signing.verify(SECRET, BODY, str(NOW), old["X-Flamenco-Signature"], now=NOW)


@pytest.mark.parametrize("timestamp, sig", [(None, "sha256=00"), ("", "sha256=00"), ("12a", "sha256=00"),
                                            (str(NOW), None), (str(NOW), "")])
def test_verify_refuses_missing_or_malformed_headers(timestamp, sig):
    assert not signing.verify(SECRET, BODY, timestamp, sig, now=NOW)


def test_secret_round_trips_and_is_not_stored_in_plain_text():
    secret = crypto.new_secret()
    assert secret.startswith("whsec_") and len(secret) > 40
    stored = crypto.encrypt("server-key-1", secret)
    assert secret not in stored
    assert crypto.decrypt("server-key-1", stored) == secret
    assert crypto.new_secret() != secret


def test_secret_encrypted_under_another_secret_key_is_unreadable():
    stored = crypto.encrypt("server-key-1", "whsec_x")
    with pytest.raises(crypto.SecretUnreadable, match="SECRET_KEY"):
        crypto.decrypt("server-key-2", stored)


@pytest.mark.parametrize("url, reason", [
    ("ftp://example.com/hook", "scheme must be http or https"),
    ("file:///etc/passwd", "scheme must be http or https"),
    ("javascript:alert(1)", "scheme must be http or https"),
    ("https://", "no host"),
    ("https://user:pw@example.com/", "user name or password"),
    ("http://example.com:99999/", "not a valid URL"),
    ("", "required"),
    (None, "required"),
    (42, "required"),
    ("https://example.com/" + "a" * 3000, "longer than"),
])
def test_webhook_url_refusals_name_the_field(url, reason):
    with pytest.raises(validation.InvalidSetting) as info:
        validation.check_webhook_url(url, [])
    assert info.value.field == "url"
    assert reason in info.value.reason


def test_allowed_hosts_limit_where_webhooks_may_point():
    allowed = ["*.example.com", "hooks.slack.com"]
    assert validation.check_webhook_url("https://ci.example.com/x", allowed) == "https://ci.example.com/x"
    assert validation.check_webhook_url("https://HOOKS.slack.com/x", allowed)
    for url in ("http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data", "https://example.com.evil.io/"):
        with pytest.raises(validation.InvalidSetting, match="WEBHOOK_ALLOWED_HOSTS"):
            validation.check_webhook_url(url, allowed)


def test_recipients_are_checked_and_deduplicated():
    assert validation.check_recipients("a@example.com, b@example.com;a@example.com") == ["a@example.com",
                                                                                       "b@example.com"]
    with pytest.raises(validation.InvalidSetting, match="not an e-mail address") as info:
        validation.check_recipients(["a@example.com", "nobody"])
    assert info.value.field == "email_recipients"
    with pytest.raises(validation.InvalidSetting, match="list"):
        validation.check_recipients({"a": 1})
