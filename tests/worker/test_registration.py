"""Registration, sign-on and re-registration against a fake manager over real HTTP."""
from __future__ import annotations

import asyncio
import configparser
import datetime as dt
import stat

import pytest

from flamenco_worker.clock import SYSTEM_CLOCK, Clock
from flamenco_worker.config import WorkerConfig
from flamenco_worker.registration import UnableToRegisterError, register_and_sign_on, registration_token
from flamenco_worker.upstream import ManagerClient
from tests.worker.conftest import end_sleep, run, until, with_config
from tests.worker.fake_clock import FakeClock
from tests.worker.fake_manager import FakeManager, check_hs256


async def sign_on(config: WorkerConfig, clock: Clock = SYSTEM_CLOCK) -> WorkerConfig:
    client = ManagerClient(config.manager_url, timeout=config.http_timeout_seconds)
    try:
        return await register_and_sign_on(client, config, clock=clock)
    finally:
        await client.aclose()


def test_registers_with_own_secret_and_stores_it(manager: FakeManager, worker_config: WorkerConfig) -> None:
    config = run(sign_on(worker_config))
    assert manager.workers == {config.worker_id: config.worker_secret}
    assert len(config.worker_secret) == 64 and config.worker_secret.isalnum()
    registration = manager.requests("/register-worker")[0].body
    assert registration["nickname"] == "test-worker"
    assert registration["supported_task_types"] == ["sleep", "debug"]
    assert registration["platform"] == "linux"
    sign_on_body = manager.requests("/sign-on")[0].body
    assert sign_on_body["machine"]["cpu_count"] >= 1, "machine stats go along with sign-on"
    stored = configparser.ConfigParser()
    stored.read(worker_config.credentials_file)
    assert dict(stored["flamenco-worker"]) == {"worker_id": config.worker_id, "worker_secret": config.worker_secret}
    assert stat.S_IMODE(worker_config.credentials_file.stat().st_mode) == 0o600


def test_known_worker_only_signs_on(manager: FakeManager, worker_config: WorkerConfig) -> None:
    manager.workers["b" * 24] = "s" * 64
    config = run(sign_on(with_config(worker_config, worker_id="b" * 24, worker_secret="s" * 64)))
    assert config.worker_id == "b" * 24
    assert not manager.requests("/register-worker")


def test_rejected_credentials_register_again_once(manager: FakeManager, worker_config: WorkerConfig) -> None:
    forgotten = with_config(worker_config, worker_id="c" * 24, worker_secret="x" * 64)
    config = run(sign_on(forgotten))
    assert config.worker_id != "c" * 24
    assert len(manager.requests("/register-worker")) == 1
    assert [r.worker_id for r in manager.requests("/sign-on")] == [None, config.worker_id]


def test_registration_psk(worker_config: WorkerConfig) -> None:
    with FakeManager(registration_secret="farm-psk") as psk_manager:
        config = with_config(worker_config, manager_url=psk_manager.url)
        with pytest.raises(UnableToRegisterError, match="worker_registration_secret"):
            run(sign_on(config))
        with pytest.raises(UnableToRegisterError, match="403"):
            run(sign_on(with_config(config, worker_registration_secret="wrong")))
        registered = run(sign_on(with_config(config, worker_registration_secret="farm-psk")))
        assert registered.worker_id in psk_manager.workers


def test_registration_token_is_a_valid_hs256_jwt() -> None:
    token = registration_token("key")
    assert check_hs256(token, "key")
    assert not check_hs256(token, "other key")
    assert not check_hs256(registration_token("key", now=0), "key"), "expired tokens are refused"


def test_keeps_trying_until_manager_appears(
    manager: FakeManager, worker_config: WorkerConfig, clock: FakeClock,
) -> None:
    manager.stop()
    retry = worker_config.register_retry_seconds

    async def body() -> WorkerConfig:
        attempt = asyncio.create_task(sign_on(worker_config, clock), name="sign-on")
        for _ in range(2):  # each failed attempt waits register_retry_seconds before the next
            assert await end_sleep(clock, "sign-on", "the retry after an unreachable manager") == retry
        await until(lambda: clock.pending("sign-on"), what="the third failed attempt")
        assert not attempt.done(), "registration waits for the manager"
        manager.start()
        assert not manager.requests(), "no new attempt before the retry interval passed"
        assert await end_sleep(clock, "sign-on", "the retry after an unreachable manager") == retry
        return await attempt

    config = run(body())
    assert config.worker_id in manager.workers
    assert len(manager.requests("/register-worker")) == 1
    assert clock.elapsed == pytest.approx(3 * retry)


def test_registration_token_is_issued_at_the_clock_time(worker_config: WorkerConfig) -> None:
    an_hour_behind = FakeClock(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    with FakeManager(registration_secret="farm-psk") as psk_manager:
        config = with_config(worker_config, manager_url=psk_manager.url, worker_registration_secret="farm-psk")
        with pytest.raises(UnableToRegisterError, match="403"):  # expired 45 minutes ago
            run(sign_on(config, an_hour_behind))
        assert run(sign_on(config, FakeClock(dt.datetime.now(dt.timezone.utc)))).worker_id in psk_manager.workers
