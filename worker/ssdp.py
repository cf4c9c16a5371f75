"""Find the manager with UPnP/SSDP when ``manager_url`` is empty (reference B.2 step 2).

As Flamenco 2's worker: an M-SEARCH for ``urn:flamenco:manager:0`` with
``MX: 3`` is sent twice to 239.255.255.250:1900, answers are awaited for 1 s,
for up to 5 rounds; the ``LOCATION`` of the first answer for that service type
becomes ``manager_url``, checked like a configured one. Differences: the
socket takes any free port instead of 1901 (two workers on one machine can
search at once), and only IPv4 is searched (Flamenco 2 also tried FF05::C).

Hand-written on the standard library: the worker must install with few
dependencies, and the ``ssdp`` package on PyPI would still leave the socket
set-up and the answer matching to us, for a search that is these few lines.

The rounds are timed with ``time.monotonic``, not the worker's injectable
clock: they are socket timeouts, waits of the operating system, and the
search runs once, before the worker (and its clock) exists.
"""
from __future__ import annotations

import http.client
import io
import logging
import socket
import time

from flamenco_worker import defaults
from flamenco_worker.config import ConfigError, WorkerConfig, check_manager_url

log = logging.getLogger(__name__)

SEARCHES_PER_ROUND = 2
"""M-SEARCH datagrams per round (UDP may drop one; Flamenco 2 sent two)."""

MX_SECONDS = 3
"""The ``MX`` header: how long a responder may wait before answering."""


class DiscoveryError(Exception):
    """No manager answered the SSDP search."""


def search_request(port: int) -> bytes:
    return ("M-SEARCH * HTTP/1.1\r\n"
            f"HOST: {defaults.SSDP_MULTICAST_GROUP}:{port}\r\n"
            'MAN: "ssdp:discover"\r\n'
            f"MX: {MX_SECONDS}\r\n"
            f"ST: {defaults.SSDP_SERVICE_TYPE}\r\n"
            "\r\n").encode()


def manager_location(datagram: bytes) -> str | None:
    """The ``LOCATION`` of a search answer for the manager's service type, if it is one."""
    status_line, _, rest = datagram.partition(b"\r\n")
    if status_line.split()[:2] != [b"HTTP/1.1", b"200"]:
        return None
    try:
        headers = http.client.parse_headers(io.BytesIO(rest))
    except http.client.HTTPException:  # over-long lines or too many headers
        return None
    if headers.get("ST") != defaults.SSDP_SERVICE_TYPE:
        return None
    return headers.get("LOCATION")


def discover_manager(config: WorkerConfig) -> str:
    """The URL of the first manager that answers; raises DiscoveryError when none does."""
    request = search_request(config.ssdp_port)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, config.ssdp_multicast_ttl)
            sock.bind(("", 0))
            for _ in range(config.ssdp_rounds):
                for _ in range(SEARCHES_PER_ROUND):
                    sock.sendto(request, (defaults.SSDP_MULTICAST_GROUP, config.ssdp_port))
                url = _first_answer(sock, time.monotonic() + config.ssdp_round_seconds)
                if url:
                    return url
    except OSError as ex:
        raise DiscoveryError(f"SSDP search for a manager failed: {ex}") from None
    raise DiscoveryError(f"no Flamenco manager answered the SSDP search for {defaults.SSDP_SERVICE_TYPE} "
                         f"({config.ssdp_rounds} rounds); set manager_url in {defaults.CONFIG_FILE} "
                         f"or {defaults.ENV_PREFIX}MANAGER_URL")


def _first_answer(sock: socket.socket, deadline: float) -> str | None:
    """The first valid manager URL received before ``deadline``."""
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            datagram, sender = sock.recvfrom(4096)
        except TimeoutError:
            return None
        url = manager_location(datagram)
        if url is None:
            continue
        try:
            check_manager_url(url)
        except ConfigError as ex:
            log.warning("ignoring SSDP answer from %s: %s", sender[0], ex)
            continue
        if url:
            log.info("found manager %s with SSDP (answer from %s)", url, sender[0])
            return url
    return None
