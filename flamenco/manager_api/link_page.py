"""The ``choose`` step of linking: the user picks which of their Managers to link.

``/flamenco/managers/link/choose`` serves a minimal HTML page for browsers
(the dashboard may restyle it) and JSON for scripts (``Accept:
application/json``). The POST answers 307 to the Manager's return URL, as
Flamenco 2 did, with the URL also in a JSON body for scripts.
"""
from __future__ import annotations

import flask
from flask_wtf.csrf import generate_csrf
from werkzeug.routing import BuildError

from flamenco import auth as flamenco_auth
from flamenco import errors
from flamenco.manager_api import linking
from flamenco.manager_api.routes import blueprint
from flamenco.store import current_db

CHOOSE_URL = "/flamenco/managers/link/choose"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Link a Flamenco Manager</title></head>
<body>
<h1>Link a Flamenco Manager</h1>
<p>A Flamenco Manager at <code>{{ return_url }}</code> asks to be linked to your account.
Choose which of your Managers it is, or create a new one.</p>
<form method="post">
  <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
  {% for m in managers %}
  <p><label><input type="radio" name="manager-id" value="{{ m._id }}" {% if loop.first %}checked{% endif %}>
    {{ m.name }}{% if m.description %} ({{ m.description }}){% endif %}</label></p>
  {% endfor %}
  <p><label><input type="radio" name="manager-id" value="new" {% if not managers %}checked{% endif %}>
    A new Manager named</label> <input type="text" name="manager-name" maxlength="128"></p>
  <p><button type="submit">Link this Manager</button></p>
</form>
</body></html>
"""


def _wants_json() -> bool:
    return flask.request.accept_mimetypes.best == "application/json" or flask.request.is_json


def _login_redirect() -> flask.typing.ResponseReturnValue:
    """Browsers go to the dashboard login (and come back); scripts get a 401."""
    if not _wants_json():
        try:
            return flask.redirect(flask.url_for("web.session.login", next=flask.request.full_path), 303)
        except BuildError:
            pass
    return errors.error_response(401, "log in to link a Manager",
                                 headers={"WWW-Authenticate": 'Bearer realm="flamenco"'})


def _form_value(name: str) -> object:
    if flask.request.is_json:
        payload = flask.request.get_json(silent=True)
        return payload.get(name) if isinstance(payload, dict) else None
    return flask.request.form.get(name)


@blueprint.route(CHOOSE_URL, methods=["GET", "POST"])
def choose() -> flask.typing.ResponseReturnValue:
    """Show the user's Managers (GET) or bind the chosen one and send the browser back (POST)."""
    user = flamenco_auth.current_user()
    if user is None:
        return _login_redirect()
    args = flask.request.args
    request = linking.verify_choose(current_db(), args.get("identifier"), args.get("return"), args.get("hmac"))
    if flask.request.method == "GET":
        managers = linking.owned_managers(current_db(), user)
        if _wants_json():
            return flask.jsonify({"identifier": request.identifier, "return": request.return_url,
                                  "managers": [{"_id": str(m["_id"]), "name": m.get("name", "")}
                                               for m in managers]})
        return flask.render_template_string(PAGE, managers=managers, return_url=request.return_url,
                                            csrf_token=generate_csrf())
    location = linking.choose_manager(current_db(), user, request, _form_value("manager-id"),
                                      _form_value("manager-name"))
    resp = flask.jsonify({"location": location})
    resp.status_code = 307
    resp.headers["Location"] = location
    return resp
