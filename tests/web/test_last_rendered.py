"""The last-rendered image on the dashboard: who may see a job's image, the farm page, the live event."""
from __future__ import annotations

import base64
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from tests.support.server import make_manager, make_project
from tests.web.conftest import insert_job


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 90), colour).save(out, "JPEG")
    return out.getvalue()


def upload(app, manager: dict, token: str, job_id, data: bytes) -> None:
    """The Manager API call a Manager's sync loop makes."""
    auth = base64.b64encode(f"{token}:".encode()).decode()
    resp = app.test_client().post(f"/api/flamenco/managers/{manager['_id']}/last-rendered/{job_id}",
                                  data={"image": (io.BytesIO(data), "last-rendered.jpg", "image/jpeg")},
                                  content_type="multipart/form-data", headers={"Authorization": f"Basic {auth}"})
    assert resp.status_code == 204, resp.get_data(as_text=True)


@pytest.fixture
def rendered_job(app, farm, jobs_of) -> dict:
    job = jobs_of(name="shot-010")
    upload(app, farm["manager"], farm["manager_token"], job["_id"], jpeg((200, 30, 30)))
    return job


def image_url_on_job_page(client, job) -> str:
    html = client.get(f"/p/spring/jobs/{job['_id']}").get_data(as_text=True)
    marker = f'src="/p/spring/jobs/{job["_id"]}/last-rendered.jpg?v='
    assert marker in html, "the job page shows its last rendered frame"
    start = html.index(marker) + len('src="')
    return html[start:html.index('"', start)].replace("&amp;", "&")


def stamp_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["v"][0]


def test_members_and_viewers_see_the_jobs_image_outsiders_get_404(client_as, rendered_job):
    url = f"/p/spring/jobs/{rendered_job['_id']}/last-rendered.jpg"
    for who in ("alice", "vic"):
        resp = client_as(who).get(url)
        assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
        assert Image.open(io.BytesIO(resp.data)).getpixel((10, 10))[0] > 150
    assert client_as("olga").get(url).status_code == 404


def test_job_without_an_image_shows_a_placeholder_and_404s_its_image(alice, jobs_of):
    job = jobs_of(name="not yet")
    html = alice.get(f"/p/spring/jobs/{job['_id']}").get_data(as_text=True)
    assert "No frame rendered yet" in html and "last-rendered.jpg?v=" not in html
    assert alice.get(f"/p/spring/jobs/{job['_id']}/last-rendered.jpg").status_code == 404


def test_a_new_image_gets_a_new_url(app, alice, farm, rendered_job):
    first = image_url_on_job_page(alice, rendered_job)
    upload(app, farm["manager"], farm["manager_token"], rendered_job["_id"], jpeg((30, 30, 200)))
    second = image_url_on_job_page(alice, rendered_job)
    assert first != second, "the stamp busts the browser's cache"
    resp = alice.get(second)
    assert Image.open(io.BytesIO(resp.data)).getpixel((10, 10))[2] > 150
    assert "max-age=86400" in resp.headers["Cache-Control"] and "private" in resp.headers["Cache-Control"]


def test_the_farm_page_shows_the_newest_image_of_the_users_projects_only(app, client_as, farm, mongo_db,
                                                                          rendered_job):
    olga_project = make_project(mongo_db, "Olga's Film", members=[(farm["olga"], "admin")], url="olga")
    olga_manager, olga_token = make_manager(mongo_db, projects=[olga_project], owner=farm["olga"])
    alice, olga = client_as("alice"), client_as("olga")
    newest = alice.get("/last-rendered.json").json["newest"]
    assert newest["job_name"] == "shot-010" and newest["project_name"] == "Spring Shot"
    assert alice.get(newest["image_url"]).status_code == 200
    assert olga.get("/last-rendered.json").json["newest"] is None, "another project's image stays hidden"
    olga_job = insert_job(mongo_db, {**farm, "project": olga_project, "manager": olga_manager}, name="olga-001")
    upload(app, olga_manager, olga_token, olga_job["_id"], jpeg((30, 200, 30)))
    assert olga.get("/last-rendered.json").json["newest"]["job_name"] == "olga-001"
    assert alice.get("/last-rendered.json").json["newest"]["job_name"] == "shot-010"
    page = alice.get("/last-rendered").get_data(as_text=True)
    assert newest["image_url"].replace("&", "&amp;") in page
    assert "shot-010" in page and "olga-001" not in page


def test_an_upload_announces_the_job_live_with_its_stamp(app, alice, farm, jobs_of):
    job = jobs_of(name="live one")
    stream = alice.get("/p/spring/events")
    chunks = iter(stream.response)
    assert b"event: hello" in next(chunks)
    upload(app, farm["manager"], farm["manager_token"], job["_id"], jpeg((200, 30, 30)))
    message = next(c for c in chunks if c.startswith(b"event: job"))
    event = json.loads(message.split(b"data: ", 1)[1])
    stream.close()
    assert event["_id"] == str(job["_id"]) and event["last_rendered"]
    assert stamp_of(image_url_on_job_page(alice, job)) == event["last_rendered"], \
        "the page's stamp is the event's, so the page swaps the image only for a newer one"
