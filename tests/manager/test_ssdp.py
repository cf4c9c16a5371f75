"""The manager's SSDP responder, found by the worker's search on real multicast sockets (TTL 0)."""
from __future__ import annotations

import configparser
import socket
import subprocess

import pytest

from flamenco.farm.services import free_port
from flamenco_manager import ssdp
from flamenco_manager.config import build_config
from flamenco_manager.defaults import SSDP_MULTICAST_GROUP
from flamenco_worker.config import WorkerConfig
from flamenco_worker.ssdp import DiscoveryError, discover_manager, search_request
from tests.manager.support import manager_process, wait_until_serving
from tests.worker.test_cli import PROCESS_TIMEOUT_SECONDS, WORKER_SCRIPT, wait_for
from tests.worker.test_ssdp import QUICK_SEARCH, free_udp_port, worker_env

OWN_URL = "http://manager.example:8083/"
DEVICE_UUID = "0c4e5b1a-3f7d-4a59-9c1e-2b8d6f0a7e31"


def test_responder_answers_a_search_with_own_url() -> None:
    port = free_udp_port()
    config = build_config({"own_url": OWN_URL, "ssdp_port": port, "ssdp_device_uuid": DEVICE_UUID})
    responder = ssdp.start_responder(config)
    assert responder is not None
    try:
        assert discover_manager(WorkerConfig(ssdp_port=port, **QUICK_SEARCH)) == OWN_URL
    finally:
        responder.stop()


def test_answer_carries_flamenco_2_headers() -> None:
    headers = ssdp.search_response(OWN_URL, DEVICE_UUID).decode().split("\r\n")
    assert headers[0] == "HTTP/1.1 200 OK"
    for header in (f"LOCATION: {OWN_URL}", "ST: urn:flamenco:manager:0", "CACHE-CONTROL: max-age=3600",
                   f"USN: uuid:{DEVICE_UUID}::urn:flamenco:manager:0"):
        assert header in headers


FLAMENCO_SEARCH = search_request(0)
SEARCHES = {
    "our service type": (FLAMENCO_SEARCH, True),
    "ssdp:all": (FLAMENCO_SEARCH.replace(b"urn:flamenco:manager:0", b"ssdp:all"), True),
    "another service type": (FLAMENCO_SEARCH.replace(b"urn:flamenco:manager:0", b"urn:x:printer:1"), False),
    "MAN not quoted": (FLAMENCO_SEARCH.replace(b'"ssdp:discover"', b"ssdp:discover"), False),
    "a NOTIFY": (FLAMENCO_SEARCH.replace(b"M-SEARCH", b"NOTIFY"), False),
    "garbage headers": (b"M-SEARCH * HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", False),
}


@pytest.mark.parametrize("search, answered", SEARCHES.values(), ids=SEARCHES.keys())
def test_which_searches_are_answered(search: bytes, answered: bool) -> None:
    port = free_udp_port()
    responder = ssdp.start_responder(build_config({"own_url": OWN_URL, "ssdp_port": port}))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
            sock.settimeout(0.5)
            sock.sendto(search, (SSDP_MULTICAST_GROUP, port))
            try:
                reply = sock.recv(4096)
            except TimeoutError:
                reply = b""
    finally:
        responder.stop()
    assert (f"LOCATION: {OWN_URL}".encode() in reply) is answered, reply


def test_device_uuid_defaults_to_one_per_own_url() -> None:
    first = ssdp.device_uuid(build_config({"own_url": OWN_URL}))
    assert first == ssdp.device_uuid(build_config({"own_url": OWN_URL}))
    assert first != ssdp.device_uuid(build_config({"own_url": "http://other.example:8083/"}))
    assert ssdp.device_uuid(build_config({"own_url": OWN_URL, "ssdp_device_uuid": DEVICE_UUID})) == DEVICE_UUID


def test_no_answer_when_ssdp_discovery_is_off() -> None:
    port = free_udp_port()
    config = build_config({"own_url": OWN_URL, "ssdp_port": port, "ssdp_discovery": False})
    assert ssdp.start_responder(config) is None
    with pytest.raises(DiscoveryError):
        discover_manager(WorkerConfig(ssdp_port=port, **QUICK_SEARCH))


def test_worker_without_manager_url_finds_a_running_manager(manager_settings, tmp_path):
    http_port, ssdp_port = free_port(), free_udp_port()
    own_url = f"http://127.0.0.1:{http_port}/"
    settings = {**manager_settings, "listen": f"127.0.0.1:{http_port}", "own_url": own_url,
                "ssdp_discovery": True, "ssdp_port": ssdp_port}
    log_path = tmp_path / "serve.log"
    with manager_process("serve", settings, log_path) as manager:
        wait_until_serving(own_url.rstrip("/"), manager, log_path)
        env = worker_env(tmp_path, ssdp_port) | {"FLAMENCO_WORKER_SSDP_ROUNDS": "5",
                                                 "FLAMENCO_WORKER_TASK_TYPES": "sleep"}
        worker = subprocess.Popen([str(WORKER_SCRIPT)], cwd=tmp_path, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            credentials = tmp_path / "credentials.cfg"
            wait_for(lambda: credentials.is_file() or worker.poll() is not None, "the worker to register")
            worker.terminate()
            output, _ = worker.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    assert f"found manager {own_url} with SSDP" in output
    parser = configparser.ConfigParser()
    parser.read(credentials)
    assert parser["flamenco-worker"]["worker_id"], output
    assert worker.returncode == 0, output
