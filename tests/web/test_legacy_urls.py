"""Flamenco 2 dashboard URLs lead to the same pages here."""
from __future__ import annotations


def test_old_urls_redirect(alice, jobs_of):
    job = jobs_of(name="j", task_statuses=("queued",))
    task_id = job["tasks"][0]["_id"]
    cases = {
        "/flamenco/": "/",
        "/flamenco/spring/": "/p/spring/jobs/",
        f"/flamenco/spring/jobs/{job['_id']}": f"/p/spring/jobs/{job['_id']}",
        f"/flamenco/spring/tasks/{task_id}": f"/p/spring/tasks/{task_id}",
        f"/flamenco/spring/tasks/{task_id}.log.gz": f"/p/spring/tasks/{task_id}/log.gz",
    }
    for old, new in cases.items():
        response = alice.get(old)
        assert response.status_code in (301, 307), old
        assert response.headers["Location"] == new, old
