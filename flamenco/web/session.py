"""Log in and out of the dashboard with a username and password.

Flask-Login (set up by ``flamenco.auth``) keeps the user id in the signed
session cookie; ``flamenco.auth.load_current_user`` reads it on every request
and checks the CSRF token of every state-changing session request. The login
form itself is a Flask-WTF form, so it carries a CSRF token too. Passwords
are checked by ``flamenco.users.check_password``; service accounts have none
and cannot log in.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import flask
import flask_login
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from flamenco import auth, users
from flamenco.web import store

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


@bp.route("/login", methods=["GET", "POST"])
def login() -> flask.typing.ResponseReturnValue:
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        user = store.db()["users"].find_one({"username": form.username.data})
        if user is not None and users.check_password(user, form.password.data):
            flask.session.clear()
            flask_login.login_user(auth.SessionUser(user))
            return flask.redirect(safe_next_url(flask.request.args.get("next")))
        error, status = BAD_LOGIN_MESSAGE, 401
    elif flask.request.method == "POST":
        error, status = "Please fill in both fields (and reload the page if it was open a long time).", 400
    return flask.render_template("login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
def logout() -> flask.typing.ResponseReturnValue:
    flask_login.logout_user()
    flask.session.clear()
    return flask.redirect(flask.url_for("web.session.login"))
