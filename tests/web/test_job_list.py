"""The job list: filters, sorting, paging, counts, empty states and access."""
from __future__ import annotations

import datetime
import re

import pytest
import redis
from pymongo import monitoring

from flamenco.store.collections import TASKS
from flamenco.web import live_feed
from flamenco.web import actions, defaults
from tests.support.commands import CommandCounter

JOB_ROW = re.compile(r'<tr data-job-id="([0-9a-f]{24})">')


def row_ids(html: str) -> list[str]:
    return JOB_ROW.findall(html)


# One counter for every test that asks for it: pymongo listens globally and cannot unregister.
_COMMANDS = CommandCounter()
_registered: list[CommandCounter] = []


@pytest.fixture
def store_commands() -> CommandCounter:
    """Counts the commands of the clients made after it (ask for it before the app)."""
    if not _registered:
        monitoring.register(_COMMANDS)
        _registered.append(_COMMANDS)
    _COMMANDS.clear()
    return _COMMANDS


def test_empty_project_shows_how_to_submit(alice, farm):
    html = alice.get("/p/spring/jobs/").get_data(as_text=True)
    assert "No jobs yet" in html
    assert "POST /api/flamenco/jobs" in html


def test_lists_jobs_newest_update_first_with_task_progress(alice, jobs_of):
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    old = jobs_of(name="old render", updated=t0, task_statuses=("completed", "completed", "queued", "failed"))
    new = jobs_of(name="new render", updated=t0 + datetime.timedelta(hours=1))
    html = alice.get("/p/spring/jobs/").get_data(as_text=True)
    assert row_ids(html) == [str(new["_id"]), str(old["_id"])]
    assert "2/4" in html  # completed of total tasks of the old job
    assert "Studio Manager" in html and "Alice Artist" in html


def test_filters_by_status_type_and_user(alice, jobs_of, farm):
    queued = jobs_of(name="q", status="queued", job_type="sleep")
    active = jobs_of(name="a", status="active", job_type="blender-render")
    html = alice.get("/p/spring/jobs/?status=active").get_data(as_text=True)
    assert row_ids(html) == [str(active["_id"])]
    html = alice.get("/p/spring/jobs/?job_type=sleep").get_data(as_text=True)
    assert row_ids(html) == [str(queued["_id"])]
    html = alice.get(f"/p/spring/jobs/?user={farm['vic']['_id']}").get_data(as_text=True)
    assert row_ids(html) == [] and "No jobs match these filters" in html


def test_archived_jobs_only_when_asked_for(alice, jobs_of):
    archived = jobs_of(name="old", status="archived", task_statuses=())
    assert row_ids(alice.get("/p/spring/jobs/").get_data(as_text=True)) == []
    assert row_ids(alice.get("/p/spring/jobs/?status=archived").get_data(as_text=True)) == [str(archived["_id"])]


def test_sorts_by_name(alice, jobs_of):
    b = jobs_of(name="bravo")
    a = jobs_of(name="alpha")
    assert row_ids(alice.get("/p/spring/jobs/?sort=name").get_data(as_text=True)) == [str(a["_id"]), str(b["_id"])]
    assert row_ids(alice.get("/p/spring/jobs/?sort=-name").get_data(as_text=True)) == [str(b["_id"]), str(a["_id"])]


def test_pages_through_jobs(alice, mongo_db, farm, jobs_of):
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    total = defaults.JOB_PAGE_SIZE + 3
    for i in range(total):
        jobs_of(name=f"job {i:03d}", updated=t0 + datetime.timedelta(minutes=i), task_statuses=())
    first = alice.get("/p/spring/jobs/").get_data(as_text=True)
    second = alice.get("/p/spring/jobs/?page=2").get_data(as_text=True)
    assert len(row_ids(first)) == defaults.JOB_PAGE_SIZE
    assert len(row_ids(second)) == 3
    assert not set(row_ids(first)) & set(row_ids(second))
    assert f"{total} jobs, page 1 of 2" in first
    assert 'rel="next"' in first and "page=2" in first
    # Past the end shows the last page rather than nothing.
    assert row_ids(alice.get("/p/spring/jobs/?page=99").get_data(as_text=True)) == row_ids(second)


def test_bad_filters_are_a_400_naming_the_field(alice):
    for query, field in (("status=bogus", "status"), ("sort=password_hash", "sort"),
                         ("page=x", "page"), ("page=0", "page"), ("manager=123", "manager")):
        response = alice.get(f"/p/spring/jobs/?{query}")
        assert response.status_code == 400, query
        assert f"{field}:" in response.get_data(as_text=True)
    response = alice.get("/p/spring/jobs/?status=bogus", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert "status" in response.get_json()["_issues"]


def test_rows_fragment_for_live_refresh(alice, jobs_of):
    job = jobs_of(name="fragment")
    response = alice.get("/p/spring/jobs/rows")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert row_ids(html) == [str(job["_id"])]
    assert "<html" not in html


def test_outsider_cannot_see_the_project(client_as, jobs_of):
    jobs_of(name="secret")
    olga = client_as("olga")
    response = olga.get("/p/spring/jobs/")
    assert response.status_code == 404
    assert "secret" not in response.get_data(as_text=True)
    assert "Spring Shot" not in olga.get("/").get_data(as_text=True)
    assert "not a member of any Flamenco project" in olga.get("/").get_data(as_text=True)


def test_viewer_sees_jobs_without_action_buttons(client_as, jobs_of):
    jobs_of(name="look only")
    html = client_as("vic").get("/p/spring/jobs/").get_data(as_text=True)
    assert "look only" in html
    assert "data-job-action" not in html


def test_unknown_project_is_a_readable_404(alice):
    response = alice.get("/p/nope/jobs/")
    assert response.status_code == 404
    assert "There is no project &#39;nope&#39;" in response.get_data(as_text=True)


def test_home_page_counts_jobs_per_status(alice, jobs_of):
    jobs_of(name="a", status="queued")
    jobs_of(name="b", status="queued")
    jobs_of(name="c", status="failed")
    html = alice.get("/").get_data(as_text=True)
    assert "3 jobs" in html


def test_answers_are_cached_until_a_job_of_the_project_changes(alice, jobs_of, redis_url):
    first = jobs_of(name="first")
    assert row_ids(alice.get("/p/spring/jobs/").get_data(as_text=True)) == [str(first["_id"])]
    second = jobs_of(name="second")  # written without announcing it: not seen yet
    assert row_ids(alice.get("/p/spring/jobs/").get_data(as_text=True)) == [str(first["_id"])]
    live_feed.publish("job", second, url=redis_url)
    assert set(row_ids(alice.get("/p/spring/jobs/").get_data(as_text=True))) == {str(first["_id"]), str(second["_id"])}


STATUS_BOX = re.compile(r'<input type="checkbox" name="status" value="([a-z-]+)"')


def test_one_job_is_counted_in_the_singular(alice, jobs_of, redis_url):
    jobs_of(name="only one")
    assert "<caption>1 job</caption>" in alice.get("/p/spring/jobs/").get_data(as_text=True)
    projects_page = alice.get("/").get_data(as_text=True)
    assert "<p>1 job</p>" in projects_page and "1 jobs" not in projects_page
    live_feed.publish("job", jobs_of(name="and another"), url=redis_url)
    assert "<caption>2 jobs</caption>" in alice.get("/p/spring/jobs/").get_data(as_text=True)


def test_status_filter_offers_common_statuses_first_as_check_boxes(alice, jobs_of):
    jobs_of(name="any")
    html = alice.get("/p/spring/jobs/?status=failed&status=active").get_data(as_text=True)
    assert 'name="status" multiple' not in html
    offered = STATUS_BOX.findall(html)
    assert offered[:8] == ["active", "queued", "paused", "completed", "failed",
                           "cancel-requested", "canceled", "archived"]
    assert sorted(offered) == sorted(actions.JOB_STATUSES)
    assert offered.index("under-construction") > offered.index("archived")
    checked = re.findall(r'name="status" value="([a-z-]+)" checked', html)
    assert sorted(checked) == ["active", "failed"]


def test_cancel_asks_for_confirmation(alice, jobs_of):
    job = jobs_of(name="running", status="active", task_statuses=("active",))
    listing = alice.get("/p/spring/jobs/").get_data(as_text=True)
    assert re.search(r'data-job-action="cancel" data-confirm="Cancel the selected jobs\?', listing)
    page = alice.get(f"/p/spring/jobs/{job['_id']}").get_data(as_text=True)
    assert re.search(r'data-job-action="cancel" data-job="[0-9a-f]{24}" data-confirm="Cancel this job\?', page)


def test_counts_come_from_the_job_documents_not_the_tasks(store_commands, alice, jobs_of, redis_url):
    """After a restart (Redis empty) the job list reads its jobs' counts from the job documents,
    as the rules keep them: it reads no task of the jobs it shows."""
    jobs_of(name="render", task_statuses=("completed", "completed", "queued", "failed"))
    assert "2/4" in alice.get("/p/spring/jobs/").get_data(as_text=True)  # counts the tasks once, keeps the result
    redis.Redis.from_url(redis_url).flushdb()
    store_commands.clear()
    html = alice.get("/p/spring/jobs/").get_data(as_text=True)
    assert "2/4" in html
    assert store_commands.collections[TASKS] == 0, store_commands.collections
