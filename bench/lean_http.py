"""A minimal HTTP/1.1 keep-alive client for load generators: one connection, one request at a time.

Why not aiohttp's client here: the load generator shares the benchmark
machine's two cores with the farm it measures, and aiohttp's client spent
about 0.25 ms of CPU per request (0.7-0.9 ms per simulated task, a fifth of
all CPU in bench_dispatch, 2026-12-04): CPU taken from the farm, which real
workers on their own machines never take. This sends the same requests
(method, path, headers, JSON body) over asyncio streams and reads the answer
by ``Content-Length`` or chunks, about a fifth of the cost. It is not a
general client: no redirects, proxies, TLS or compression, which nothing it
is used for needs.
"""
from __future__ import annotations

import asyncio
import base64
import json
from typing import Any


class HTTPError(Exception):
    """The connection failed or the answer was not HTTP/1.1."""


def basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` header value for HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Connection:
    """One keep-alive connection to ``host:port``, reopened after a failure."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Send one request and return (status, body); HTTPError when the exchange fails."""
        body = b"" if json_body is None else json.dumps(json_body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        if json_body is not None:
            lines.append("Content-Type: application/json")
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        message = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        try:
            async with asyncio.timeout(self.timeout):
                return await self._exchange(message)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as ex:
            self.close()
            raise HTTPError(f"{method} {path}: {type(ex).__name__} {ex}") from ex

    async def _exchange(self, message: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(message)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        if not status_line.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP answer: {status_line[:40]!r}")
        fields = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunks()
        else:
            body = await self._reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return int(status_line[9:12]), body

    async def _chunks(self) -> bytes:
        assert self._reader is not None
        parts = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")  # no trailers are sent to us
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
