"""Fixtures of the notification tests: a real HTTP receiver and a real SMTP server.

The receiver is ``http.server`` on a free port in a thread; it answers with
the status codes it is told, in order, and records every request. The SMTP
server is aiosmtpd's, on a free port, recording every message.
"""
from __future__ import annotations

import dataclasses
import email
import http.server
import threading
import time
from email.message import Message
from typing import Iterator

import pytest
from aiosmtpd.controller import Controller

from flamenco.farm.services import free_port

# How long a test waits for a delivery that goes through a Celery worker
# (a cold worker needs a few seconds to import; a busy 2-core machine more).
DELIVERY_TIMEOUT = 60.0


@dataclasses.dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A local webhook receiver answering ``codes`` in turn (then 200)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.codes: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                    code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, count: int, timeout: float = DELIVERY_TIMEOUT) -> list[Received]:
        """The first ``count`` requests, waiting for them to arrive."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.requests) >= count, f"got {len(self.requests)} of {count} requests"
        return self.requests[:count]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.thread.start()
    try:
        yield rec
    finally:
        rec.server.shutdown()
        rec.server.server_close()


class Mailbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: object, session: object, envelope) -> str:  # noqa: N802, ANN001
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = DELIVERY_TIMEOUT) -> list[tuple[list[str], Message]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.messages) >= count, f"got {len(self.messages)} of {count} e-mails"
        return self.messages[:count]


@dataclasses.dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, mailbox)
    finally:
        controller.stop()
