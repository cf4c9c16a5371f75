"""``flamenco-manager run`` as a real process: serves workers, syncs, stops cleanly on SIGTERM."""
from __future__ import annotations

from flamenco.farm.services import free_port
from tests.manager.support import TestWorker, manager_process, wait_until_serving


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
