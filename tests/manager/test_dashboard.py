"""The manager dashboard over real HTTP: page, JSON report, worker actions, schedules, logs."""
from __future__ import annotations

import requests
from bson import ObjectId
from click.testing import CliRunner

from flamenco_manager import cleanup, sleep_schedule, tasks
from flamenco_manager import store as dbmod
from flamenco_manager.cli import main
from tests.manager.support import Dashboard, server_task


def test_page_lists_workers_with_status_task_and_queue(ctx, manager_url, new_worker):
    worker = new_worker(nickname="render-07")
    tasks.store_downloaded(ctx, [server_task()])
    task = worker.get_task().json()
    page = Dashboard(manager_url).get("/")
    assert page.status_code == 200
    assert "render-07" in page.text and "…" + task["_id"][-4:] in page.text
    assert "Upstream queue: 1" in page.text
    report = Dashboard(manager_url).get("/as-json").json()
    assert report["nr_of_workers"] == 1 and report["upstream_queue_size"] == 1
    (entry,) = report["workers"]
    assert entry["current_task"] == task["_id"] and entry["status"] == "awake"
    assert "hashed_secret" not in entry


def test_worker_actions(ctx, manager_url, new_worker):
    worker = new_worker()
    url = f"/worker-action/{worker.worker_id}"
    assert Dashboard(manager_url).post(url, data={"action": "set-status", "status": "asleep", "lazy": "true"}).status_code == 204
    assert worker.get_task().json() == {"status_requested": "asleep"}
    resp = Dashboard(manager_url).post(url, data={"action": "set-status", "status": "dancing"})
    assert resp.status_code == 400 and "status" in resp.json()["_issues"]
    assert Dashboard(manager_url).post(url, data={"action": "explode"}).status_code == 400
    assert Dashboard(manager_url).post(url, data={"action": "ack-timeout"}).status_code == 400
    resp = Dashboard(manager_url).post(url, data={"action": "shutdown", "from_page": "1"}, allow_redirects=False)
    assert resp.status_code == 303
    assert worker.status_change().json() == {"status_requested": "shutdown"}
    assert Dashboard(manager_url).post(url, data={"action": "forget-worker"}).status_code == 204
    assert ctx.store.db[dbmod.WORKERS].count_documents({}) == 0
    assert Dashboard(manager_url).post(url, data={"action": "forget-worker"}).status_code == 404
    assert Dashboard(manager_url).post("/worker-action/nope", data={}).status_code == 400


def test_sleep_schedule_is_applied(ctx, manager_url, new_worker):
    worker = new_worker()
    url = f"/set-sleep-schedule/{worker.worker_id}"
    always = {"schedule_active": True, "days_of_week": "", "time_start": "", "time_end": ""}
    assert Dashboard(manager_url).post(url, data="x").status_code == 406
    resp = Dashboard(manager_url).post(url, json={**always, "time_start": "99:00"})
    assert resp.status_code == 400 and "time_start" in resp.json()["_issues"]
    assert Dashboard(manager_url).post(url, json=always).status_code == 204
    answer = worker.status_change().json()
    assert answer == {"status_requested": "asleep"}
    worker.ack("asleep")
    stored = ctx.store.db[dbmod.WORKERS].find_one({"_id": ObjectId(worker.worker_id)})
    assert stored["sleep_schedule"]["next_check"] > ctx.now()
    assert sleep_schedule.apply_due(ctx) == 0, "nothing due before the next boundary"


def test_logfile_and_kick(ctx, manager_url, new_worker):
    worker = new_worker()
    doc = server_task()
    tasks.store_downloaded(ctx, [doc])
    task = worker.get_task().json()
    worker.update(task["_id"], log="rendering frame 1")
    text = Dashboard(manager_url).get(f"/logfile/{doc['job']}/{doc['_id']}").text
    assert "Manager assigned task" in text and "rendering frame 1" in text
    assert Dashboard(manager_url).get(f"/logfile/{doc['job']}/{ObjectId()}").status_code == 404
    assert Dashboard(manager_url).post("/kick").text == "Kicked task downloader"


def test_dashboard_needs_its_password_also_from_this_machine(ctx, manager_url):
    ctx.config = ctx.config.replace(dashboard_password="let-me-in")
    assert requests.get(manager_url + "/as-json", timeout=10).status_code == 401, "loopback is no login"
    assert Dashboard(manager_url).get("/as-json").status_code == 401
    assert Dashboard(manager_url, password="let-me-in").get("/as-json").status_code == 200
    ctx.config = ctx.config.replace(dashboard_password="")
    resp = requests.get(manager_url + "/", timeout=10)
    assert resp.status_code == 403 and "dashboard_password" in resp.json()["_error"]["message"]


def test_dashboard_actions_need_the_pages_csrf_token(ctx, manager_url, new_worker):
    """A foreign page can make a browser send the Basic credentials, but cannot read the token."""
    worker = new_worker()
    logged_in = Dashboard(manager_url)
    for path, data in ((f"/worker-action/{worker.worker_id}", {"action": "forget-worker"}), ("/kick", {})):
        resp = logged_in.session.post(manager_url + path, data=data, timeout=10)
        assert resp.status_code == 403 and "csrf_token" in resp.json()["_issues"], path
        resp = logged_in.session.post(manager_url + path, data={**data, "csrf_token": "0" * 64}, timeout=10)
        assert resp.status_code == 403, path
    assert ctx.state.workers, "nothing was forgotten"
    page = logged_in.get("/").text
    token = logged_in.get("/as-json").json()["csrf_token"]
    assert f'name="csrf_token" value="{token}"' in page
    resp = logged_in.session.post(manager_url + f"/worker-action/{worker.worker_id}",
                                  data={"action": "forget-worker", "csrf_token": token}, timeout=10)
    assert resp.status_code == 204
    assert requests.get(manager_url + "/kick", auth=("admin", "x"), timeout=10).status_code == 405, \
        "a GET changes nothing"


def test_cleanup_of_old_tasks_and_workers(ctx, new_worker, clock):
    ctx.config = ctx.config.replace(worker_cleanup_max_age=3600)
    worker = new_worker()
    tasks.store_downloaded(ctx, [server_task()])
    worker.sign_off()
    clock.advance(ctx.config.task_cleanup_max_age + 1)
    assert cleanup.remove_old_tasks(ctx) == 1
    assert cleanup.remove_old_workers(ctx) == 1


def test_cli_cleanslate_and_purgequeue(ctx, manager_settings, new_worker):
    tasks.store_downloaded(ctx, [server_task(), server_task()])
    new_worker().get_task()
    env = {f"FLAMENCO_MANAGER_{k.upper()}": str(v) for k, v in manager_settings.items()}
    result = CliRunner().invoke(main, ["cleanslate", "--yes"], env=env)
    assert result.exit_code == 1 and "already dispatches from this database" in result.output, \
        "nothing changes the buffer under a running manager"
    ctx.close()
    result = CliRunner().invoke(main, ["cleanslate", "--yes"], env=env)
    assert result.exit_code == 0 and "removed 2 cached tasks" in result.output
    result = CliRunner().invoke(main, ["purgequeue", "--yes"], env=env)
    assert result.exit_code == 0 and "dropped 1 queued updates" in result.output
    result = CliRunner().invoke(main, ["serve"], env={**env, "FLAMENCO_MANAGER_LISTEN": "nowhere"})
    assert result.exit_code == 1 and "listen" in result.output
    result = CliRunner().invoke(main, ["run"], env=env)
    assert result.exit_code == 1 and "manager_id and manager_secret must be set" in result.output
    result = CliRunner().invoke(main, ["show-config"], env={**env, "FLAMENCO_MANAGER_MANAGER_SECRET": "s3cret"})
    assert result.exit_code == 0 and "manager_secret: '********'" in result.output and "s3cret" not in result.output
