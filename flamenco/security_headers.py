"""Response headers that keep browsers from misusing the server's pages.

Every response: ``X-Frame-Options: DENY`` (no page of ours inside another
site's frame, where a click could be stolen: cancel a job, link a Manager),
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``.

A Content-Security-Policy, by kind of response: dashboard pages (the ``web``
blueprint) load their scripts, styles, images and live updates from this
server only; inline styles stay allowed for the progress bars' widths, but no
inline or foreign script can run. Everything else (the JSON API, the
Manager-linking page) needs nothing from a browser and allows nothing.
"""
from __future__ import annotations

import flask

DASHBOARD_BLUEPRINT = "web"
DASHBOARD_CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
# The linking page posts to this server, which then redirects the browser to
# the Manager: a form-action limit would block that redirect.
OTHER_CSP = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def add_security_headers(response: flask.Response) -> flask.Response:
    """``after_request``: the headers above, without overriding a view's own."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    dashboard = DASHBOARD_BLUEPRINT in (flask.request.blueprints or ())
    response.headers.setdefault("Content-Security-Policy", DASHBOARD_CSP if dashboard else OTHER_CSP)
    return response


def setup_app(app: flask.Flask) -> None:
    app.after_request(add_security_headers)
