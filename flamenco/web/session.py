"""Log in and out of the dashboard with a username and password.

Flask-Login (set up by ``flamenco.auth``) keeps the user id in the signed
session cookie; ``flamenco.auth.load_current_user`` reads it on every request
and checks the CSRF token of every state-changing session request. The login
form itself is a Flask-WTF form, so it carries a CSRF token too. Passwords
are checked by ``flamenco.users.check_password``; service accounts have none
and cannot log in.

Hardening (issue 13): a failed login costs the same time whether the
username exists or not; failures are throttled per username and per client
address (:mod:`flamenco.web.login_throttle`); logout ends every session of
the user server-side (:func:`flamenco.auth.end_sessions`), so a copied
cookie stops working.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import flask
import flask_login
import redis
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from flamenco import auth, users
from flamenco.web import store
from flamenco.web.login_throttle import LoginThrottle
from flamenco.store import current_db
from flamenco.store.collections import USERS

bp = flask.Blueprint("session", __name__)
# The same message for an unknown user and a wrong password: no user enumeration.
BAD_LOGIN_MESSAGE = "Unknown username or wrong password."


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=128)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def safe_next_url(target: str | None) -> str:
    """Only redirect back to a path on this site after login (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return flask.url_for("web.projects.index")


def login_throttle() -> LoginThrottle:
    config = flask.current_app.config
    return LoginThrottle(store.cache(), config["LOGIN_MAX_FAILURES_PER_USERNAME"],
                         config["LOGIN_MAX_FAILURES_PER_ADDRESS"], config["LOGIN_FAILURE_WINDOW_SECONDS"])


def attempt_login(username: str, password: str, address: str) -> tuple[dict | None, int]:
    """``(user, 0)`` when the password is right, ``(None, 0)`` when not, ``(None, seconds)`` when locked.

    A locked username or address is refused before any password check. Every
    check costs one bcrypt comparison, known username or not
    (:func:`flamenco.users.check_password`).
    """
    throttle = login_throttle()
    wait = throttle.seconds_locked(username, address)
    if wait:
        return None, wait
    user = current_db()[USERS].find_one({"username": username})
    if users.check_password(user, password):
        throttle.record_success(username)
        return user, 0
    throttle.record_failure(username, address)
    return None, 0


@bp.route("/login", methods=["GET", "POST"])
def login() -> flask.typing.ResponseReturnValue:
    form = LoginForm()
    error = None
    status = 200
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            user, wait = attempt_login(form.username.data, form.password.data, flask.request.remote_addr or "")
        except redis.RedisError:
            flask.current_app.logger.exception("login throttle unavailable")
            error, status = "Logging in is unavailable for a moment; please try again.", 503
            return flask.render_template("login.html", form=form, error=error), status
        if user is not None:
            flask.session.clear()
            flask_login.login_user(auth.SessionUser(user))
            return flask.redirect(safe_next_url(flask.request.args.get("next")))
        if wait:
            minutes = -(-wait // 60)
            error, status = f"Too many failed logins; try again in {minutes} minute(s).", 429
            headers["Retry-After"] = str(wait)
        else:
            error, status = BAD_LOGIN_MESSAGE, 401
    elif flask.request.method == "POST":
        error, status = "Please fill in both fields (and reload the page if it was open a long time).", 400
    return flask.render_template("login.html", form=form, error=error), status, headers


@bp.route("/logout", methods=["POST"])
def logout() -> flask.typing.ResponseReturnValue:
    user = auth.current_user()
    if user is not None and user.via_session:
        # The signed cookie would stay valid; ending the user's session generation revokes it.
        auth.end_sessions(current_db(), user.user_id)
    flask_login.logout_user()
    flask.session.clear()
    return flask.redirect(flask.url_for("web.session.login"))
