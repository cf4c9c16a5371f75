"""The job page's requirements card (issue 15): what the job needs, and a warning when no worker of its
Manager has it, from the workers the Manager reported."""
from __future__ import annotations

import datetime
import html

from tests.server.test_workers_registry import basic_auth, notification, reported_worker

WORKSTATION = {"cpu_cores": 16, "ram_bytes": 64 * 10 ** 9, "gpus": []}


def report(app, farm: dict, workers: list[dict]) -> None:
    """The Manager's update notification with its workers, as a Manager sends it."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    resp = app.test_client().post(f"/api/flamenco/managers/{farm['manager']['_id']}/update",
                                  json=notification(workers=workers, workers_reported_at=now),
                                  headers=basic_auth(farm["manager_token"]))
    assert resp.status_code == 204, resp.get_data(as_text=True)


def page_text(client, job: dict) -> str:
    resp = client.get(f"/p/spring/jobs/{job['_id']}")
    assert resp.status_code == 200
    return html.unescape(resp.get_data(as_text=True))


def test_job_page_says_no_worker_can_run_it_until_one_is_tagged(app, farm, alice, jobs_of):
    job = jobs_of(name="gpu shot", requirements={"tags": ["gpu"]})
    report(app, farm, [reported_worker(nickname="a", resources=WORKSTATION), reported_worker(nickname="b")])
    text = page_text(alice, job)
    assert "<h2>Requirements</h2>" in text and "<li>tag 'gpu'</li>" in text
    assert ("No worker of manager Studio Manager can run this job: needs tag 'gpu' (2 workers, none tagged 'gpu')"
            in text)
    live = html.unescape(alice.get(f"/p/spring/jobs/{job['_id']}/live").get_data(as_text=True))
    assert "none tagged 'gpu'" in live, "the live part re-fetched on updates carries it too"

    report(app, farm, [reported_worker(nickname="a", tags=["gpu"], resources=WORKSTATION),
                       reported_worker(nickname="b")])
    text = page_text(alice, job)
    assert "can run this job" not in text
    assert "1 of 2 workers of its Manager can run it." in " ".join(text.split())


def test_unknown_resources_are_named_and_finished_jobs_do_not_warn(app, farm, alice, jobs_of):
    report(app, farm, [reported_worker(nickname="old")])
    waiting = jobs_of(name="big", requirements={"min_ram_gb": 32})
    assert ("needs 32 GB RAM (1 worker, none with 32 GB RAM; 1 did not report its resources)"
            in page_text(alice, waiting))
    done = jobs_of(name="done", status="completed", task_statuses=("completed",), requirements={"min_ram_gb": 32})
    text = page_text(alice, done)
    assert "<li>32 GB RAM</li>" in text and "can run this job" not in text
    plain = jobs_of(name="plain")
    assert "<h2>Requirements</h2>" not in page_text(alice, plain)
