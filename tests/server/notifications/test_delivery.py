"""One delivery attempt at a time, against a real local HTTP receiver and SMTP server.

The deliveries are logged through the API (Celery is off in this app, so
nothing sends them behind the test's back); the test then makes each attempt
the Celery task would make, with the attempt numbers Celery would give.
"""
from __future__ import annotations

import json
import time

import pytest
from bson import ObjectId

from flamenco.farm.services import free_port
from flamenco.notifications import defaults, deliveries, sending, signing
from tests.server.conftest import World
from tests.server.notifications.conftest import Receiver, SmtpServer


def settings_of(app, **changes) -> sending.SendSettings:
    cfg = dict(app.config) | changes
    return sending.SendSettings.from_config(cfg)


def queue_ping(world: World, url: str) -> tuple[dict, str]:
    """Create a webhook for ``url`` and queue a test event; return (delivery, secret)."""
    base = f"/api/flamenco/projects/{world.project_a['_id']}"
    created = world.api("alice").post(base + "/webhooks", json={"url": url})
    assert created.status_code == 201, created.json
    queued = world.api("alice").post(f"{base}/webhooks/{created.json['_id']}/test")
    assert queued.status_code == 202, queued.json
    [item] = queued.json["deliveries"]
    return deliveries.load(world.db, ObjectId(item["_id"])), created.json["secret"]


def attempt(world: World, app, delivery_id: ObjectId, number: int, **changes) -> str:
    return sending.attempt_webhook(world.db, deliveries.load(world.db, delivery_id), number,
                                   settings_of(app, **changes))


def test_signed_post_reaches_the_receiver(world: World, app, receiver: Receiver):
    delivery, secret = queue_ping(world, receiver.url)
    assert attempt(world, app, delivery["_id"], 1) == deliveries.DELIVERED
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["type"] == "ping" and body["project"]["id"] == str(world.project_a["_id"])
    assert request.headers["X-Flamenco-Event"] == "ping"
    assert request.headers["X-Flamenco-Event-Id"] == body["id"] == delivery["event_id"]
    assert request.headers["Content-Type"] == "application/json"
    assert signing.verify(secret, request.body, request.headers["X-Flamenco-Timestamp"],
                          request.headers["X-Flamenco-Signature"], now=time.time())
    assert not signing.verify("whsec_wrong", request.body, request.headers["X-Flamenco-Timestamp"],
                              request.headers["X-Flamenco-Signature"], now=time.time())


def test_retries_send_the_same_event_and_log_every_attempt(world: World, app, receiver: Receiver):
    receiver.codes = [500, 503]
    delivery, secret = queue_ping(world, receiver.url)
    assert [attempt(world, app, delivery["_id"], n) for n in (1, 2, 3)] == [
        deliveries.RETRYING, deliveries.RETRYING, deliveries.DELIVERED]
    assert len({r.body for r in receiver.requests}) == 1
    assert all(signing.verify(secret, r.body, r.headers["X-Flamenco-Timestamp"], r.headers["X-Flamenco-Signature"],
                              now=time.time()) for r in receiver.requests)
    logged = deliveries.load(world.db, delivery["_id"])
    assert [(a["number"], a["status_code"]) for a in logged["attempts"]] == [(1, 500), (2, 503), (3, 200)]
    assert "500" in logged["attempts"][0]["error"] and logged["attempts"][2]["error"] == ""
    assert all(a["duration_ms"] >= 0 for a in logged["attempts"])
    # A redelivered Celery message does not send a finished delivery again.
    assert attempt(world, app, delivery["_id"], 4) == deliveries.DELIVERED
    assert len(receiver.requests) == 3


def test_gives_up_after_the_last_attempt(world: World, app, receiver: Receiver):
    receiver.codes = [500, 500]
    delivery, _ = queue_ping(world, receiver.url)
    states = [attempt(world, app, delivery["_id"], n, NOTIFICATION_MAX_ATTEMPTS=2) for n in (1, 2)]
    assert states == [deliveries.RETRYING, deliveries.FAILED]


def test_a_refusing_receiver_is_not_retried(world: World, app, receiver: Receiver):
    receiver.codes = [404]
    delivery, _ = queue_ping(world, receiver.url)
    assert attempt(world, app, delivery["_id"], 1) == deliveries.FAILED
    receiver.codes = [429]
    delivery, _ = queue_ping(world, receiver.url)
    assert attempt(world, app, delivery["_id"], 1) == deliveries.RETRYING


def test_unreachable_receiver_is_retried_with_the_error_logged(world: World, app):
    delivery, _ = queue_ping(world, f"http://127.0.0.1:{free_port()}/nobody-listens")
    assert attempt(world, app, delivery["_id"], 1) == deliveries.RETRYING
    [logged] = deliveries.load(world.db, delivery["_id"])["attempts"]
    assert logged["status_code"] is None and "ConnectError" in logged["error"]


def test_redirects_are_not_followed(world: World, app, receiver: Receiver):
    receiver.codes = [302]
    delivery, _ = queue_ping(world, receiver.url)
    assert attempt(world, app, delivery["_id"], 1) == deliveries.FAILED
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("change, error", [
    ({"SECRET_KEY": "a-different-key"}, "SECRET_KEY"),
    ({"WEBHOOK_ALLOWED_HOSTS": ["*.example.com"]}, "WEBHOOK_ALLOWED_HOSTS"),
])
def test_config_changed_since_queueing_fails_without_sending(world: World, app, receiver: Receiver, change, error):
    delivery, _ = queue_ping(world, receiver.url)
    assert attempt(world, app, delivery["_id"], 1, **change) == deliveries.FAILED
    assert error in deliveries.load(world.db, delivery["_id"])["attempts"][0]["error"]
    assert receiver.requests == []


def test_deleted_webhook_is_not_called(world: World, app, receiver: Receiver):
    delivery, _ = queue_ping(world, receiver.url)
    world.db[defaults.WEBHOOKS].delete_many({})
    assert attempt(world, app, delivery["_id"], 1) == deliveries.FAILED
    assert deliveries.load(world.db, delivery["_id"])["attempts"][0]["error"] == "webhook was deleted"
    assert receiver.requests == []


def test_retry_delay_doubles_up_to_the_cap():
    assert [sending.retry_delay(n, 30, 3600) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


def test_email_reaches_the_smtp_server(world: World, app, smtp_server: SmtpServer):
    app.config.update(SMTP_HOST=smtp_server.host, SMTP_PORT=smtp_server.port, SMTP_FROM="farm@example.com")
    base = f"/api/flamenco/projects/{world.project_a['_id']}/notification-settings"
    world.api("alice").patch(base, json={"email_recipients": ["lead@example.com", "td@example.com"]})
    queued = world.api("alice").post(base + "/test-email")
    assert queued.status_code == 202, queued.json
    delivery = deliveries.load(world.db, ObjectId(queued.json["deliveries"][0]["_id"]))
    assert sending.attempt_email(world.db, delivery, 1, settings_of(app)) == deliveries.DELIVERED
    [(rcpt, message)] = smtp_server.mailbox.messages
    assert rcpt == ["lead@example.com", "td@example.com"]
    assert message["From"] == "farm@example.com"
    assert message["Subject"] == "[Flamenco] Project A: test notification"
    assert delivery["event_id"] in message.get_payload()


def test_email_to_a_closed_port_is_retried(world: World, app):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())
    base = f"/api/flamenco/projects/{world.project_a['_id']}/notification-settings"
    world.api("alice").patch(base, json={"email_recipients": ["lead@example.com"]})
    delivery_id = ObjectId(world.api("alice").post(base + "/test-email").json["deliveries"][0]["_id"])
    assert sending.attempt_email(world.db, deliveries.load(world.db, delivery_id), 1,
                                 settings_of(app)) == deliveries.RETRYING
