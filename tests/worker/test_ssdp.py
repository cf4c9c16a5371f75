"""The worker's SSDP search for a manager, on real multicast sockets kept on this host (TTL 0)."""
from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest

from flamenco_worker import defaults
from flamenco_worker.config import WorkerConfig
from flamenco_worker.ssdp import DiscoveryError, discover_manager
from tests.worker.test_cli import PROCESS_TIMEOUT_SECONDS, WORKER_SCRIPT

QUICK_SEARCH = dict(ssdp_multicast_ttl=0, ssdp_round_seconds=0.2, ssdp_rounds=2)
"""A short search that never leaves this machine."""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def answering(port: int, answers: list[bytes]) -> Iterator[list[bytes]]:
    """A bare SSDP listener that replies ``answers`` to each search; yields the searches it got."""
    searches: list[bytes] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    struct.pack("4s4s", socket.inet_aton(defaults.SSDP_MULTICAST_GROUP), socket.inet_aton("0.0.0.0")))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                datagram, sender = sock.recvfrom(4096)
            except TimeoutError:
                continue
            searches.append(datagram)
            for answer in answers:
                sock.sendto(answer, sender)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield searches
    finally:
        stop.set()
        thread.join()
        sock.close()


def answer(location: str, service_type: str = defaults.SSDP_SERVICE_TYPE) -> bytes:
    return f"HTTP/1.1 200 OK\r\nLOCATION: {location}\r\nST: {service_type}\r\n\r\n".encode()


def test_search_takes_first_valid_location_of_our_service_type() -> None:
    port = free_udp_port()
    answers = [answer("http://printer.example/", "urn:schemas-upnp-org:device:Printer:1"),
               answer("'http://quoted.example/'"), answer("http://manager.example:8083/")]
    with answering(port, answers) as searches:
        url = discover_manager(WorkerConfig(ssdp_port=port, **QUICK_SEARCH))
    assert url == "http://manager.example:8083/"
    request = searches[0].decode()
    assert request.startswith("M-SEARCH * HTTP/1.1\r\n")
    for header in ('MAN: "ssdp:discover"', "MX: 3", "ST: urn:flamenco:manager:0",
                   f"HOST: 239.255.255.250:{port}"):
        assert header in request.split("\r\n")


def test_search_without_answer_raises_after_its_rounds() -> None:
    port = free_udp_port()
    with answering(port, []) as searches:
        with pytest.raises(DiscoveryError, match="no Flamenco manager answered"):
            discover_manager(WorkerConfig(ssdp_port=port, **QUICK_SEARCH))
    assert len(searches) == 2 * QUICK_SEARCH["ssdp_rounds"], "each round sends the search twice"


def worker_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({f"FLAMENCO_WORKER_{key.upper()}": str(value) for key, value in QUICK_SEARCH.items()})
    env.update({"FLAMENCO_WORKER_MANAGER_URL": "", "FLAMENCO_WORKER_SSDP_PORT": str(port),
                "FLAMENCO_WORKER_CREDENTIALS_FILE": str(tmp_path / "credentials.cfg"),
                "FLAMENCO_WORKER_TASK_UPDATE_QUEUE_DB": str(tmp_path / "queue.db")})
    return env


def test_worker_without_manager_url_and_no_answer_exits_1(tmp_path: Path) -> None:
    result = subprocess.run([str(WORKER_SCRIPT)], capture_output=True, text=True, cwd=tmp_path,
                            env=worker_env(tmp_path, free_udp_port()), timeout=PROCESS_TIMEOUT_SECONDS)
    assert result.returncode == 1
    assert "no Flamenco manager answered the SSDP search" in result.stderr
    assert "Traceback" not in result.stderr
