"""UPnP/SSDP responder: tells workers with an empty ``manager_url`` where this manager is.

Flamenco 2's manager advertises the service type ``urn:flamenco:manager:0``
with ``own_url`` as its location (reference A, start-up step 9). This module
answers M-SEARCH requests for that type (and ``ssdp:all``) with a unicast
``HTTP/1.1 200 OK`` carrying ``LOCATION: own_url``; it sends no NOTIFY
announcements, since Flamenco workers only search.

Hand-written on the standard library rather than with the ``ssdp`` package
from PyPI: that package is a thin asyncio protocol that still leaves the
multicast socket set-up and the M-SEARCH matching to the caller, and the
manager's background loops are threads, not asyncio; a responder on plain
sockets is these few lines.
"""
from __future__ import annotations

import http.client
import io
import logging
import select
import socket
import struct
import threading
import uuid
from email.message import Message

from flamenco_manager.config import Config
from flamenco_manager.defaults import SSDP_MAX_AGE_SECONDS, SSDP_MULTICAST_GROUP, SSDP_SERVICE_TYPE

log = logging.getLogger(__name__)

# How often the responder thread looks at its stop flag while no request comes.
_STOP_POLL_SECONDS = 0.5
# Search targets answered: ours, and "everything".
_ANSWERED_TARGETS = {SSDP_SERVICE_TYPE, "ssdp:all"}


def device_uuid(config: Config) -> str:
    """``ssdp_device_uuid``, or a UUID derived from ``own_url`` (stable, different per manager)."""
    return config.ssdp_device_uuid or str(uuid.uuid5(uuid.NAMESPACE_URL, config.own_url))


def parse_search(datagram: bytes) -> Message | None:
    """The headers of an SSDP discover request, or None for anything else."""
    request_line, _, rest = datagram.partition(b"\r\n")
    if request_line.split() != [b"M-SEARCH", b"*", b"HTTP/1.1"]:
        return None
    try:
        headers = http.client.parse_headers(io.BytesIO(rest))
    except http.client.HTTPException:  # over-long lines or too many headers
        return None
    return headers if headers.get("MAN") == '"ssdp:discover"' else None


def search_response(location: str, usn_uuid: str) -> bytes:
    """The unicast answer to a search for our service type."""
    return ("HTTP/1.1 200 OK\r\n"
            f"CACHE-CONTROL: max-age={SSDP_MAX_AGE_SECONDS}\r\n"
            "EXT: \r\n"
            f"LOCATION: {location}\r\n"
            "SERVER: Flamenco-Manager UPnP/1.0\r\n"
            f"ST: {SSDP_SERVICE_TYPE}\r\n"
            f"USN: uuid:{usn_uuid}::{SSDP_SERVICE_TYPE}\r\n"
            "\r\n").encode()


class SSDPResponder:
    """Answers SSDP searches in a background thread until :meth:`stop`."""

    def __init__(self, location: str, usn_uuid: str, port: int) -> None:
        self._response = search_response(location, usn_uuid)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        # Several manager processes (and other UPnP software) may listen on one host.
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind(("", port))
            membership = struct.pack("4s4s", socket.inet_aton(SSDP_MULTICAST_GROUP), socket.inet_aton("0.0.0.0"))
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        except OSError:
            self._sock.close()
            raise
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ssdp", daemon=True)

    def start(self) -> "SSDPResponder":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            readable, _, _ = select.select([self._sock], [], [], _STOP_POLL_SECONDS)
            try:
                if readable:
                    self.answer(*self._sock.recvfrom(4096))
            except OSError as ex:  # the thread must outlive one bad datagram
                log.warning("SSDP: %s", ex)

    def answer(self, datagram: bytes, sender: tuple[str, int]) -> None:
        headers = parse_search(datagram)
        if headers is None or headers.get("ST") not in _ANSWERED_TARGETS:
            return
        try:
            self._sock.sendto(self._response, sender)
        except OSError as ex:
            log.warning("SSDP: cannot answer %s: %s", sender, ex)


def start_responder(config: Config) -> SSDPResponder | None:
    """Start answering SSDP searches when ``ssdp_discovery`` is on; None when off or impossible."""
    if not (config.ssdp_discovery and config.own_url):
        return None
    try:
        responder = SSDPResponder(config.own_url, device_uuid(config), config.ssdp_port).start()
    except OSError as ex:
        log.warning("SSDP discovery off: cannot listen on UDP port %d: %s", config.ssdp_port, ex)
        return None
    log.info("SSDP: answering searches for %s with %s", SSDP_SERVICE_TYPE, config.own_url)
    return responder
