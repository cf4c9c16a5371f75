"""A manager started without a registration secret generates one instead of running open (issue 13)."""
from __future__ import annotations

import os
import stat

import jwt
import yaml

from flamenco.farm.services import free_port
from tests.manager.support import TestWorker, manager_process, wait_until_serving


def registration(secret: str) -> dict:
    return {"Authorization": "Bearer " + jwt.encode({"sub": "new-worker"}, secret, algorithm="HS256")}


def test_first_run_generates_a_private_secret_that_later_runs_keep(manager_settings, tmp_path):
    port = free_port()
    settings = {k: v for k, v in manager_settings.items() if k != "worker_registration_open"}
    config = tmp_path / "flamenco-manager.yaml"
    config.write_text(yaml.safe_dump({**settings, "listen": f"127.0.0.1:{port}"}))
    secret_file = tmp_path / "worker-registration-secret"
    url = f"http://127.0.0.1:{port}"

    for run in (1, 2):
        log = tmp_path / f"manager-{run}.log"
        with manager_process("serve", {"config": str(config)}, log) as proc:
            wait_until_serving(url, proc, log)
            secret = secret_file.read_text().strip()
            assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600 and len(secret) >= 40
            assert TestWorker(url).register().status_code == 403, "no longer open to anyone"
            assert TestWorker(url).register(registration("guessed")).status_code == 403
            assert TestWorker(url).register(registration(secret)).status_code == 200
        output = log.read_text()
        assert secret not in output, "the secret is never logged"
        assert ("Generated a worker registration secret" in output) == (run == 1)


def test_a_configured_or_deliberately_open_manager_generates_nothing(manager_settings, tmp_path):
    for index, extra in enumerate(({"worker_registration_secret": "configured-secret-0123456789abcdef"},
                                   {"worker_registration_open": True})):
        port = free_port()
        config = tmp_path / f"flamenco-manager-{index}.yaml"
        config.write_text(yaml.safe_dump({**manager_settings, "worker_registration_open": False,
                                          "listen": f"127.0.0.1:{port}", **extra}))
        log = tmp_path / f"manager-{index}.log"
        with manager_process("serve", {"config": str(config)}, log) as proc:
            wait_until_serving(f"http://127.0.0.1:{port}", proc, log)
        assert not (tmp_path / "worker-registration-secret").exists()
