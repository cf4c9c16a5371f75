"""The worker API over real HTTP, as a Flamenco 2 worker uses it (reference A.2.2)."""
from __future__ import annotations

import jwt
import pytest
import requests
from bson import ObjectId

from flamenco_manager import store as dbmod
from flamenco_manager import task_logs, tasks, workers
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from tests.manager.conftest import serving
from tests.manager.support import TestWorker, server_task, set_worker_fields


def download(ctx, *docs):
    tasks.store_downloaded(ctx, docs)
    return docs


def test_register_returns_worker_without_secret(manager_url, ctx):
    worker = TestWorker(manager_url, nickname="box-1")
    resp = worker.register()
    assert resp.status_code == 200
    body = resp.json()
    assert len(body["_id"]) == 24 and body["nickname"] == "box-1"
    assert "secret" not in body and "hashed_secret" not in body
    stored = ctx.store.db[dbmod.WORKERS].find_one({"_id": ObjectId(body["_id"])})
    assert stored["hashed_secret"] != worker.secret.encode()


@pytest.mark.parametrize("body, field", [
    ({"platform": "linux", "supported_task_types": []}, "secret"),
    ({"secret": "x" * 64, "supported_task_types": []}, "platform"),
    ({"secret": "short", "platform": "linux"}, "secret"),
    ({"secret": "x" * 64, "platform": "linux", "supported_task_types": "sleep"}, "supported_task_types"),
])
def test_register_rejects_bad_fields(manager_url, body, field):
    resp = requests.post(manager_url + "/register-worker", json=body, timeout=10)
    assert resp.status_code == 400
    assert field in resp.json()["_issues"]


def test_register_rejects_invalid_json(manager_url):
    resp = requests.post(manager_url + "/register-worker", data=b"{nope", timeout=10)
    assert resp.status_code == 400
    assert "JSON" in resp.json()["_error"]["message"]


def test_registration_without_a_secret_is_refused_unless_open(manager_settings):
    closed = {k: v for k, v in manager_settings.items() if k != "worker_registration_open"}
    ctx = ManagerContext.create(build_config(closed))
    try:
        with serving(ctx) as url:
            resp = TestWorker(url).register()
            assert resp.status_code == 403 and "worker_registration_secret" in resp.json()["_error"]["message"]
            ctx.config = ctx.config.replace(worker_registration_open=True)
            assert TestWorker(url).register().status_code == 200
    finally:
        ctx.close()


def test_psk_registration(manager_settings):
    """With a registration secret, only a HS256 token signed with it may register."""
    ctx = ManagerContext.create(build_config({**manager_settings, "worker_registration_secret": "farm-registration-secret-0123456789abcdef"}))
    try:
        with serving(ctx) as url:
            assert TestWorker(url).register().status_code == 403
            bad = jwt.encode({"sub": "w"}, "wrong-secret-0123456789abcdef0123456789", algorithm="HS256")
            assert TestWorker(url).register({"Authorization": f"Bearer {bad}"}).status_code == 403
            good = jwt.encode({"sub": "w"}, "farm-registration-secret-0123456789abcdef", algorithm="HS256")
            assert TestWorker(url).register({"Authorization": f"Bearer {good}"}).status_code == 200
    finally:
        ctx.close()


def test_wrong_credentials_get_401(manager_url, new_worker):
    worker = new_worker()
    worker.session.auth = (worker.worker_id, "not-the-secret")
    resp = worker.get_task()
    assert resp.status_code == 401
    assert "Basic" in resp.headers["WWW-Authenticate"]
    worker.session.auth = ("not-an-id", "x")
    assert worker.get_task().status_code == 401


def test_a_registered_worker_is_not_bcrypt_checked_again(manager_url, monkeypatch):
    """The manager hashed the secret at registration; the first call compares a digest, and a
    wrong secret still gets 401."""
    worker = TestWorker(manager_url)
    assert worker.register().status_code == 200
    monkeypatch.setattr(workers, "check_secret", lambda *_: pytest.fail("bcrypt check after registration"))
    assert worker.sign_on().status_code == 204
    worker.session.auth = (worker.worker_id, "not-the-secret")
    assert worker.get_task().status_code == 401


def test_task_lifecycle_queued_to_completed(ctx, new_worker):
    worker = new_worker()
    (doc,) = download(ctx, server_task(commands=[{"name": "exec", "settings": {"args": ["{blender}", "-b"]}}]))
    resp = worker.get_task()
    assert resp.status_code == 200
    task = resp.json()
    assert task["_id"] == doc["_id"]
    assert task["status"] == "active"
    # Variables are expanded for the worker's platform, also inside argument lists.
    assert task["commands"][0]["settings"]["args"] == ["/usr/bin/blender", "-b"]
    assert worker.may_i_run(task["_id"]) == {"may_keep_running": True}
    assert worker.update(task["_id"], activity="rendering", current_command_idx=0,
                         task_progress_percentage=50, log="frame 1 done").status_code == 204
    # An acknowledged log line is in the task's log file (written by the journal's flush).
    log_file = task_logs.log_path(ctx.config.task_logs_path, doc["job"], doc["_id"])
    assert log_file.read_text().endswith("frame 1 done\n")
    assert worker.update(task["_id"], task_status="completed", log="all done").status_code == 204
    assert log_file.read_text().endswith("frame 1 done\nall done\n")
    done = tasks.find_task(ctx, ObjectId(doc["_id"]))
    assert done["status"] == "completed"
    queued = list(ctx.store.db[dbmod.UPDATE_QUEUE].find({"task_id": ObjectId(doc["_id"])}).sort("queued_at_ns", 1))
    assert [u.get("task_status") for u in queued] == ["active", None, "completed"]
    assert queued[1]["current_command_index"] == 0 and queued[1]["log_tail"] == "frame 1 done"
    assert worker.get_task().status_code == 204


def test_no_task_types_gets_406(new_worker):
    worker = new_worker(task_types=[])
    assert worker.get_task().status_code == 406


def test_pending_status_request_gets_423(ctx, new_worker):
    worker = new_worker()
    download(ctx, server_task())
    set_worker_fields(ctx, worker.worker_id, status_requested="asleep", lazy_status_request=True)
    resp = worker.get_task()
    assert resp.status_code == 423
    assert resp.json() == {"status_requested": "asleep"}
    assert worker.status_change().json() == {"status_requested": "asleep"}
    assert worker.ack("asleep").status_code == 204
    assert worker.status_change().status_code == 204
    stored = ctx.store.db[dbmod.WORKERS].find_one({"_id": ObjectId(worker.worker_id)})
    assert stored["status"] == "asleep" and stored["status_requested"] == ""


def test_ack_of_unknown_status_is_a_clear_error(new_worker):
    resp = new_worker().ack("dancing")
    assert resp.status_code == 400
    assert "status" in resp.json()["_issues"]


def test_update_unknown_task_404_and_other_workers_task_409(ctx, new_worker):
    first, second = new_worker(nickname="a"), new_worker(nickname="b")
    download(ctx, server_task())
    task = first.get_task().json()
    assert second.update(str(ObjectId()), activity="x").status_code == 404
    assert second.update("not-an-id", activity="x").status_code == 404
    assert second.update(task["_id"], task_status="completed").status_code == 409
    assert tasks.find_task(ctx, ObjectId(task["_id"]))["status"] == "active"


def test_update_with_bad_field_types_is_400(ctx, new_worker):
    worker = new_worker()
    download(ctx, server_task())
    task = worker.get_task().json()
    resp = worker.update(task["_id"], task_status="exploded")
    assert resp.status_code == 400 and "task_status" in resp.json()["_issues"]
    resp = worker.update(task["_id"], task_progress_percentage="half")
    assert resp.status_code == 400 and "task_progress_percentage" in resp.json()["_issues"]


def test_worker_gets_its_own_active_task_back(ctx, new_worker):
    worker = new_worker()
    download(ctx, server_task(), server_task())
    first = worker.get_task().json()
    again = worker.get_task().json()
    assert again["_id"] == first["_id"]


def test_return_requeues_and_may_i_run_says_no(ctx, new_worker):
    worker, other = new_worker(nickname="a"), new_worker(nickname="b")
    download(ctx, server_task())
    task = worker.get_task().json()
    assert worker.return_task(task["_id"]).status_code == 204
    cached = tasks.find_task(ctx, ObjectId(task["_id"]))
    assert cached["status"] == "claimed-by-manager" and cached["worker"] == "-"
    answer = worker.may_i_run(task["_id"])
    assert answer["may_keep_running"] is False and "non-runnable" in answer["reason"]
    assert other.get_task().json()["_id"] == task["_id"]
    answer = worker.may_i_run(task["_id"])
    assert answer == {"may_keep_running": False, "reason": "task reassigned to another worker"}
    assert worker.may_i_run(str(ObjectId()))["reason"].startswith("unable to find task")


def test_immediate_status_request_stops_running_task_lazy_does_not(ctx, new_worker):
    worker = new_worker()
    download(ctx, server_task())
    task = worker.get_task().json()
    wid = ObjectId(worker.worker_id)
    set_worker_fields(ctx, wid, status_requested="asleep", lazy_status_request=True)
    assert worker.may_i_run(task["_id"]) == {"may_keep_running": True, "status_requested": "asleep"}
    set_worker_fields(ctx, wid, lazy_status_request=False)
    answer = worker.may_i_run(task["_id"])
    assert answer["may_keep_running"] is False and answer["status_requested"] == "asleep"


def test_sign_off_requeues_active_tasks(ctx, new_worker):
    worker = new_worker()
    download(ctx, server_task())
    task = worker.get_task().json()
    assert worker.sign_off().status_code == 204
    assert tasks.find_task(ctx, ObjectId(task["_id"]))["status"] == "claimed-by-manager"
    assert ctx.store.db[dbmod.WORKERS].find_one({"_id": ObjectId(worker.worker_id)})["status"] == "offline"


def test_sign_on_task_type_change_requests_update_notification(ctx, new_worker):
    from flamenco_manager import sync_requests
    worker = new_worker()
    sync_requests.clear_update_notification(ctx)
    assert worker.sign_on(supported_task_types=["sleep"]).status_code == 204
    assert sync_requests.update_notification_pending(ctx)
    stored = ctx.store.db[dbmod.WORKERS].find_one({"_id": ObjectId(worker.worker_id)})
    assert stored["supported_task_types"] == ["sleep"] and stored["status"] == "starting"


def test_output_produced(new_worker):
    worker = new_worker()
    url = worker.url("/output-produced")
    assert worker.session.post(url, json={"paths": ["/render/0001.png"]}, timeout=10).status_code == 204
    assert worker.session.post(url, json={"paths": []}, timeout=10).status_code == 422
    assert worker.session.post(url, data=b"", timeout=10).status_code == 400


def test_scheduler_order_types_and_parents(ctx, new_worker):
    worker = new_worker(task_types=["sleep"])
    job = ObjectId()
    low = server_task(job, priority=10, name="low")
    high = server_task(job, priority=90, name="high")
    urgent_job = server_task(job_priority=90, priority=0, name="urgent-job")
    render = server_task(task_type="blender-render", priority=100, job_priority=100, name="other-type")
    child = server_task(job, priority=100, parents=[ObjectId(low["_id"])], name="child")
    download(ctx, low, high, urgent_job, render, child)
    order = []
    for _ in range(4):
        task = worker.get_task().json()
        order.append(task["name"])
        assert worker.update(task["_id"], task_status="completed").status_code == 204
    # job priority first, then task priority; the child waits for its parent;
    # the render task is of a type this worker does not run.
    assert order == ["urgent-job", "high", "low", "child"]
    assert worker.get_task().status_code == 204


def test_parent_known_but_not_completed_blocks_child(ctx, new_worker):
    worker = new_worker()
    parent = server_task(task_type="blender-render", priority=0)
    child = server_task(task_type="sleep", parents=[ObjectId(parent["_id"])], priority=100)
    download(ctx, parent, child)
    sleeper = new_worker(task_types=["sleep"])
    assert sleeper.get_task().status_code == 204
    task = worker.get_task().json()
    assert task["_id"] == parent["_id"]
    worker.update(task["_id"], task_status="completed")
    assert sleeper.get_task().json()["_id"] == child["_id"]


def test_out_of_range_values_are_400_not_500(ctx, new_worker, manager_url):
    worker = new_worker()
    download(ctx, server_task())
    task = worker.get_task().json()
    for body, field in [({"task_progress_percentage": 10**30}, "task_progress_percentage"),
                        ({"command_progress_percentage": -1}, "command_progress_percentage"),
                        ({"metrics": {"timing": {"a.b": 1}}}, "metrics.timing"),
                        ({"metrics": {"timing": {"render": "slow"}}}, "metrics.timing")]:
        resp = worker.update(task["_id"], **body)
        assert resp.status_code == 400 and field in resp.json()["_issues"], body
    long_secret = TestWorker(manager_url, secret="x" * 100)
    resp = long_secret.register()
    assert resp.status_code == 400 and "secret" in resp.json()["_issues"]
    worker.session.auth = (worker.worker_id, "y" * 100)
    assert worker.get_task().status_code == 401
    worker.session.auth = (worker.worker_id, worker.secret)
    huge_line = "z" * 100_000
    assert worker.update(task["_id"], log=huge_line).status_code == 204
    queued = ctx.store.db[dbmod.UPDATE_QUEUE].find_one({"log_tail": {"$exists": True}})
    assert len(queued["log_tail"]) <= 16 * 1024


def test_refused_registrations_are_throttled_per_address(manager_settings):
    from flamenco_manager.api import throttle

    secret = "farm-registration-secret-0123456789abcdef"
    ctx = ManagerContext.create(build_config({**manager_settings, "worker_registration_secret": secret}))
    try:
        with serving(ctx) as url:
            codes = [TestWorker(url).register().status_code for _ in range(throttle.MAX_REFUSALS + 1)]
            assert codes == [403] * throttle.MAX_REFUSALS + [429]
            good = jwt.encode({"sub": "w"}, secret, algorithm="HS256")
            resp = TestWorker(url).register({"Authorization": f"Bearer {good}"})
            assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0, "even the right secret waits"
    finally:
        ctx.close()


def test_tasks_starting_a_program_the_manager_does_not_allow_fail_there(ctx, new_worker):
    worker = new_worker(task_types=["exec", "blender-render"])
    shell = server_task(task_type="exec", priority=90, commands=[{"name": "exec", "settings": {"cmd": "/bin/sh -c id"}}])
    sneaky = server_task(task_type="blender-render", priority=80,
                         commands=[{"name": "blender_render", "settings": {"blender_cmd": "/tmp/evil -b"}}])
    fine = server_task(task_type="blender-render", priority=10,
                       commands=[{"name": "blender_render", "settings": {"blender_cmd": "{blender} --factory-startup"}}])
    download(ctx, shell, sneaky, fine)
    resp = worker.get_task()
    assert resp.json()["_id"] == fine["_id"], "the refused tasks never reach the worker"
    assert resp.json()["commands"][0]["settings"]["blender_cmd"] == "/usr/bin/blender --factory-startup"
    for refused, program in ((shell, "/bin/sh"), (sneaky, "/tmp/evil")):
        task = tasks.find_task(ctx, ObjectId(refused["_id"]))
        assert task["status"] == "failed" and program in task["activity"]
    ctx.config = ctx.config.replace(allowed_executables=["/bin/sh"])
    download(ctx, {**shell, "_id": str(ObjectId())})
    worker.update(resp.json()["_id"], task_status="completed")
    assert worker.get_task().json()["commands"][0]["settings"]["cmd"] == "/bin/sh -c id", "listed: allowed"


def test_blender_autoexec_is_a_manager_setting(ctx, new_worker):
    worker = new_worker()
    render = {"name": "blender_render", "settings": {"blender_cmd": "{blender}", "filepath": "/f.blend"}}
    download(ctx, server_task(task_type="blender-render", commands=[render]))
    task = worker.get_task().json()
    assert "autoexec" not in task["commands"][0]["settings"], "Flamenco 2's behaviour by default"
    worker.update(task["_id"], task_status="completed")
    ctx.config = ctx.config.replace(blender_autoexec=False)
    download(ctx, server_task(task_type="blender-render", commands=[render]))
    assert worker.get_task().json()["commands"][0]["settings"]["autoexec"] is False
