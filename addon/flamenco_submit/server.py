"""HTTP calls to the Flamenco server with urllib (Blender's Python may lack ``requests``).

The same wire contract as ``flamenco.client`` (reference v2-server.md §1.4,
§5.1): Eve lists under ``/api``, errors as ``{_status, _code, _message,
_issues}``. Kept free of ``bpy`` so the add-on's logic reads as plain Python.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

# Seconds to wait for an answer. A job POST compiles tasks in the request, so
# this is generous; Blender's UI is blocked meanwhile, which the artist expects.
HTTP_TIMEOUT = 60.0
# Eve's page size cap on the server; projects and Managers fit in one page.
PAGE_SIZE = 250
JOBS_PATH = "/api/flamenco/jobs"


class SubmitError(Exception):
    """Anything that stops a submission; ``str()`` is shown to the artist."""


def _issues(issues: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Eve's nested ``_issues`` as ``(field, reason)`` pairs."""
    if isinstance(issues, dict):
        pairs: list[tuple[str, str]] = []
        for key, value in issues.items():
            pairs += _issues(value, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    if isinstance(issues, list):
        return [(prefix, "; ".join(str(i) for i in issues))]
    return [(prefix or "request", str(issues))]


def error_message(status: int, body: bytes) -> str:
    """A one-paragraph message for an HTTP error answer."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        doc = None
    message = ""
    issues: list[tuple[str, str]] = []
    if isinstance(doc, dict):
        message = str(doc.get("_message") or "")
        issues = _issues(doc.get("_issues")) if doc.get("_issues") else []
    if status == 401:
        message = (message or "authentication failed") + " (check the token in the add-on preferences)"
    text = f"HTTP {status}: {message or 'request failed'}"
    # The server's message often is the issue itself; say each reason once.
    return "; ".join([text] + [f"{field}: {reason}" for field, reason in issues if reason not in message])


class ServerAPI:
    """A token-authenticated connection to one Flamenco server."""

    def __init__(self, url: str, token: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise SubmitError(f"Flamenco server URL {url!r} must start with http:// or https:// "
                              "(add-on preferences)")
        if not token:
            raise SubmitError("no Flamenco token: set one in the add-on preferences")
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """Send one request; the decoded JSON answer, or :class:`SubmitError`."""
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        })
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                payload = response.read()
        except urllib.error.HTTPError as ex:
            raise SubmitError(error_message(ex.code, ex.read())) from None
        except (urllib.error.URLError, OSError) as ex:
            reason = getattr(ex, "reason", ex)
            raise SubmitError(f"cannot reach the Flamenco server at {self.url}: {reason}") from None
        if not payload:
            return None
        try:
            return json.loads(payload.decode("utf-8"))
        except ValueError:
            raise SubmitError(f"{url} did not answer JSON; is this a Flamenco server?") from None

    def items(self, path: str, where: dict[str, Any] | None = None) -> list[dict]:
        """The first page of an Eve listing (projects and Managers are few)."""
        params: dict[str, Any] = {"max_results": PAGE_SIZE}
        if where:
            params["where"] = json.dumps(where)
        return (self.call("GET", path, params) or {}).get("_items") or []

    def choose_target(self, project: str, manager: str) -> tuple[dict, dict]:
        """The project and Manager to submit to: the named ones, or the only ones there are."""
        proj = _choose("project", project, self.items("/api/projects"), ("_id", "url", "name"), "")
        scope = f" of project {proj.get('name', proj['_id'])}"
        managers = self.items("/api/flamenco/managers", {"projects": proj["_id"]})
        return proj, _choose("manager", manager, managers, ("_id", "name"), scope)

    def submit_job(self, job: dict) -> dict:
        """POST the job and return it as stored (status after compilation)."""
        created = self.call("POST", JOBS_PATH, body=job)
        return self.call("GET", f"{JOBS_PATH}/{created['_id']}")


def _choose(kind: str, wanted: str, candidates: list[dict], keys: tuple[str, ...], scope: str) -> dict:
    choices = ", ".join(f"{c.get('name', '?')} ({c['_id']})" for c in candidates) or "none"
    if wanted:
        for key in keys:
            found = [c for c in candidates if str(c.get(key, "")) == wanted]
            if len(found) == 1:
                return found[0]
        raise SubmitError(f"no {kind} {wanted!r}{scope} is available to you; choices: {choices}")
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise SubmitError(f"you have no {kind}s{scope}; ask a Flamenco administrator")
    raise SubmitError(f"several {kind}s{scope}: set one in the add-on preferences; choices: {choices}")
