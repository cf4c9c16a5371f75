"""The HTTP client the worker talks to its manager with.

One ``httpx.AsyncClient`` (connection pooling, no thread pool as in
Flamenco 2), Basic auth with the worker's id and secret, and the
``Flamenco-Worker/<version>`` User-Agent the manager shows on its dashboard.
Network failures surface as :class:`ManagerUnreachable` so callers handle
one exception type.
"""
from __future__ import annotations

from typing import Any

import httpx

from flamenco_worker import __version__

USER_AGENT = f"Flamenco-Worker/{__version__}"


class ManagerUnreachable(Exception):
    """The manager could not be reached, or did not answer in time."""


class ManagerClient:
    """Calls the manager's worker API (reference A.2.2)."""

    def __init__(self, manager_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            base_url=manager_url.rstrip("/") + "/",
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )
        self._auth: httpx.BasicAuth | None = None

    def set_credentials(self, worker_id: str, worker_secret: str) -> None:
        self._auth = httpx.BasicAuth(worker_id, worker_secret)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        authenticated: bool = True,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """One call; raises ManagerUnreachable on any transport failure."""
        kwargs: dict[str, Any] = {"json": json, "headers": headers}
        if authenticated and self._auth is not None:
            kwargs["auth"] = self._auth
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            return await self._client.request(method, path.lstrip("/"), **kwargs)
        except httpx.TransportError as ex:
            raise ManagerUnreachable(f"{method} {path}: {type(ex).__name__}: {ex}") from ex

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def aclose(self) -> None:
        await self._client.aclose()


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The response body as a JSON object, or None when it is anything else.

    Manager replies can be proxy error pages or truncated bodies; callers
    treat None as "no usable answer" instead of crashing (D.2.2).
    """
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
