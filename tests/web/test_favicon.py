"""The site icon: linked from every page and served at /favicon.ico (browsers used to get a 404)."""
from __future__ import annotations

import re


def test_favicon_is_served_without_login(app):
    response = app.test_client().get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).lstrip().startswith("<svg")


def test_pages_link_an_icon_that_exists(app, alice):
    for page in ("/login", "/", "/managers/"):
        client = app.test_client() if page == "/login" else alice
        html = client.get(page).get_data(as_text=True)
        link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
        assert link, page
        assert client.get(link.group(1)).status_code == 200
