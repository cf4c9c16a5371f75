"""``flamenco-manager run`` as a real process: serves workers, syncs, stops cleanly on SIGTERM."""
from __future__ import annotations

import httpx

from flamenco.farm.services import free_port
from tests.manager.support import TestWorker, manager_process, wait_until_serving
from tests.metrics.parse import samples, value


def test_run_serves_and_stops_cleanly(manager_settings, tmp_path):
    port = free_port()
    settings = {**manager_settings, "listen": f"127.0.0.1:{port}", "manager_id": "5a1b2c3d4e5f60718293a4b5",
                "manager_secret": "token", "flamenco": f"http://127.0.0.1:{free_port()}/",
                "upstream_connect_timeout": 1}
    log_path = tmp_path / "run.log"
    with manager_process("run", settings, log_path) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, proc, log_path)
        worker = TestWorker(url).ready()
        assert worker.get_task().status_code == 204
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    log = log_path.read_text()
    assert "sync daemon started" in log
    assert "startup notification failed, retrying" in log, "an absent Server is reported, not fatal"
    assert "Traceback" not in log


def test_the_serving_process_freezes_its_startup_objects(manager_settings, tmp_path):
    """The collector tuning runs in the process that serves: its frozen objects show in /metrics,
    with the collections per generation (engine.tune_garbage_collector)."""
    port = free_port()
    settings = {**manager_settings, "listen": f"127.0.0.1:{port}", "dashboard_password": "pw"}
    log_path = tmp_path / "serve.log"
    with manager_process("serve", settings, log_path) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, proc, log_path)
        resp = httpx.get(f"{url}/metrics", auth=("admin", "pw"), timeout=10)
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    assert resp.status_code == 200
    scrape = samples(resp.text)
    assert (value(scrape, "flamenco_manager_gc_frozen_objects") or 0) > 10_000, "modules and state are frozen"
    assert value(scrape, "python_gc_collections_total", generation="2") is not None
