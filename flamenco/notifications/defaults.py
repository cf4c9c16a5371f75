"""Constants of notifications that are not a deployer's choice.

What a deployer tunes (attempts, back-off, allowed hosts, SMTP server) lives
in ``flamenco/defaults.py`` with the other server settings.
"""
from __future__ import annotations

from flamenco_protocol.statuses import JobStatus

# Collections, in one place.
WEBHOOKS = "flamenco_webhooks"
SETTINGS = "flamenco_notification_settings"
DELIVERIES = "flamenco_notification_deliveries"

# Event names as receivers see them (``type`` in the body, X-Flamenco-Event header).
JOB_EVENTS: dict[str, str] = {JobStatus.COMPLETED: "job.completed", JobStatus.FAILED: "job.failed",
                              JobStatus.CANCELED: "job.canceled"}
TASK_FAILED = "task.failed"
PING = "ping"

# Headers of a webhook request. The signature covers "<timestamp>.<body>", so a
# captured request cannot be replayed later with a fresh timestamp (Stripe's scheme).
SIGNATURE_HEADER = "X-Flamenco-Signature"
TIMESTAMP_HEADER = "X-Flamenco-Timestamp"
EVENT_HEADER = "X-Flamenco-Event"
EVENT_ID_HEADER = "X-Flamenco-Event-Id"
SIGNATURE_PREFIX = "sha256="
USER_AGENT = "Flamenco-Webhooks/1"
# A receiver should refuse timestamps further than this from its clock (Stripe uses 5 minutes).
SIGNATURE_TOLERANCE_SECONDS = 300

# Webhook secrets: 32 random bytes, as GitHub suggests for its webhook secrets.
SECRET_RANDOM_BYTES = 32
SECRET_PREFIX = "whsec_"
# HKDF "info" separating the webhook-secret key from other uses of SECRET_KEY.
ENCRYPTION_KEY_INFO = b"flamenco notifications: webhook secrets v1"

# A receiver that has not answered in this many seconds counts as failed (GitHub waits 10 s).
HTTP_TIMEOUT_SECONDS = 10.0
SMTP_TIMEOUT_SECONDS = 30.0
# Answers worth another try: the receiver is overloaded or briefly gone. Other
# 4xx mean it refuses this request, and sending the same bytes again will not help.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 425, 429})
# Error texts in the delivery log are cut to this length.
ERROR_MAX_CHARS = 300

# Limits that keep one project from turning the server into a mass sender.
MAX_WEBHOOKS_PER_PROJECT = 20
MAX_EMAIL_RECIPIENTS = 50
URL_MAX_CHARS = 2048
# Delivery log rows per page (API and dashboard).
LOG_PAGE_SIZE = 50
