"""A task's log read a page at a time, from wherever the server holds it.

The server may hold a task's log in three places, best first:

- the gzipped file the Manager uploaded on request (``task.log_file``): the
  complete log of the task's last run;
- the chunks Managers send inside task-update batches (``log``, stored one
  document per update in ``flamenco_task_logs``): the log as it grows, so the
  task page can tail it live;
- the task's ``log`` field: only the last lines of the latest update (all a
  Flamenco 2.2+ Manager sends, ``log_tail``).

A page holds at most about ``max_chars`` of text, so a 100 MB log never goes
out in one response. Pages are addressed by cursors the client echoes back:
a chunk cursor ``"<ms>-<chunk id>"`` (the chunk's ``received_on_manager`` in
milliseconds and its id: the order of the ``(task, received_on_manager)``
index, with the id breaking ties), or a byte offset into the decompressed
file (digits only).
"""
from __future__ import annotations

import dataclasses
import datetime
import gzip
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator

from bson import ObjectId
from pymongo.database import Database

from flamenco import clock
from flamenco.store.collections import TASK_LOGS

CHUNK_PROJECTION = {"log": 1, "received_on_manager": 1}
# Bytes decompressed at a time when reading an uploaded log: small enough to
# keep memory flat for any file size, big enough that a 100 MB log takes
# about 1,600 reads.
READ_BLOCK_BYTES = 64 * 1024
# Chunks fetched per round trip while collecting a page.
CHUNK_BATCH_SIZE = 100
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
ONE_MS = datetime.timedelta(milliseconds=1)
# What a damaged upload raises while being decompressed.
UNREADABLE_GZIP = (OSError, EOFError, zlib.error)

SOURCE_FILE = "file"
SOURCE_CHUNKS = "chunks"
SOURCE_TAIL = "tail"


class CursorError(ValueError):
    """A cursor the client sent is malformed; ``field`` names the query parameter."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class ChunkCursor:
    """The position of one chunk in the task's log: its Manager time, then its id."""

    at: datetime.datetime
    chunk_id: ObjectId

    @classmethod
    def of(cls, chunk: dict) -> ChunkCursor:
        at = chunk["received_on_manager"]
        return cls(at=clock.as_utc(at), chunk_id=chunk["_id"])

    @classmethod
    def parse(cls, text: str, field: str) -> ChunkCursor:
        millis, _, chunk_id = text.partition("-")
        if not millis.isdigit() or not ObjectId.is_valid(chunk_id):
            raise CursorError(field, "must be a cursor from an earlier answer, like '1700000000000-<24 hex digits>'")
        return cls(at=EPOCH + int(millis) * ONE_MS, chunk_id=ObjectId(chunk_id))

    def __str__(self) -> str:
        return f"{(self.at - EPOCH) // ONE_MS}-{self.chunk_id}"


@dataclasses.dataclass
class LogPage:
    """Some consecutive text of a task's log and where it sits.

    ``start`` is the cursor to ask for the text before it (``earlier`` tells
    whether there is any), ``end`` the cursor to ask for what came after
    (``later`` tells whether more is already there). ``problem`` explains
    why the text is missing (a damaged upload).
    """

    source: str
    text: str
    start: str | None = None
    end: str | None = None
    earlier: bool = False
    later: bool = False
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _line(text: str) -> str:
    """A chunk as it reads in the whole log: ending with a newline."""
    return text if text.endswith("\n") else text + "\n"


def _collect(chunks: Iterable[dict], max_chars: int) -> tuple[list[dict], bool]:
    """Chunks in the given order until the next would pass ``max_chars`` (at least one); and whether more remain."""
    taken: list[dict] = []
    size = 0
    for chunk in chunks:
        length = len(chunk.get("log") or "") + 1
        if taken and size + length > max_chars:
            return taken, True
        taken.append(chunk)
        size += length
    return taken, False


def _find_chunks(db: Database, query: dict, direction: int) -> Iterator[dict]:
    cursor = db[TASK_LOGS].find(query, CHUNK_PROJECTION, batch_size=CHUNK_BATCH_SIZE).sort(
        [("received_on_manager", direction), ("_id", direction)])
    with cursor:
        yield from cursor


def _beyond(task_id: ObjectId, cursor: ChunkCursor, operator: str) -> dict:
    """The task's chunks after (``$gt``) or before (``$lt``) ``cursor``."""
    return {"task": task_id, "$or": [{"received_on_manager": {operator: cursor.at}},
                                     {"received_on_manager": cursor.at, "_id": {operator: cursor.chunk_id}}]}


def _chunk_page(chunks: list[dict], *, earlier: bool, later: bool) -> LogPage:
    return LogPage(source=SOURCE_CHUNKS, text="".join(_line(c.get("log") or "") for c in chunks),
                   start=str(ChunkCursor.of(chunks[0])), end=str(ChunkCursor.of(chunks[-1])),
                   earlier=earlier, later=later)


def last_chunks(db: Database, task_id: ObjectId, max_chars: int) -> LogPage | None:
    """The newest chunks of the task's log, or None if no Manager sent any."""
    chunks, earlier = _collect(_find_chunks(db, {"task": task_id}, -1), max_chars)
    if not chunks:
        return None
    chunks.reverse()
    return _chunk_page(chunks, earlier=earlier, later=False)


def chunks_before(db: Database, task_id: ObjectId, cursor: ChunkCursor, max_chars: int) -> LogPage:
    """The chunks just before ``cursor`` (the "load earlier" of the page)."""
    chunks, earlier = _collect(_find_chunks(db, _beyond(task_id, cursor, "$lt"), -1), max_chars)
    if not chunks:
        return LogPage(source=SOURCE_CHUNKS, text="", start=str(cursor), end=str(cursor), later=True)
    chunks.reverse()
    return _chunk_page(chunks, earlier=earlier, later=True)


def chunks_after(db: Database, task_id: ObjectId, cursor: ChunkCursor, max_chars: int) -> LogPage:
    """The chunks that arrived after ``cursor`` (the live tail); ``later`` when a page could not hold them all."""
    chunks, later = _collect(_find_chunks(db, _beyond(task_id, cursor, "$gt"), 1), max_chars)
    if not chunks:
        return LogPage(source=SOURCE_CHUNKS, text="", start=str(cursor), end=str(cursor), earlier=True)
    return _chunk_page(chunks, earlier=True, later=later)


def iter_chunks(db: Database, task_id: ObjectId) -> Iterator[str]:
    """Every chunk of the task's log in order, for streaming the whole log."""
    for chunk in _find_chunks(db, {"task": task_id}, 1):
        yield _line(chunk.get("log") or "")


def iter_file(path: Path) -> Iterator[bytes]:
    """The uploaded log decompressed, a block at a time (memory stays flat whatever its size)."""
    with gzip.open(path, "rb") as f:
        yield from iter(lambda: f.read(READ_BLOCK_BYTES), b"")


def iter_file_or_notice(path: Path) -> Iterator[bytes]:
    """:func:`iter_file` for streaming to a reader: a damaged upload ends with a notice, not a broken response."""
    try:
        yield from iter_file(path)
    except UNREADABLE_GZIP as ex:
        yield f"\n[The uploaded log file cannot be read from here on: {ex}]\n".encode()


def _window_before(path: Path, before: int | None, max_bytes: int) -> tuple[bytes, int]:
    """The last ``max_bytes`` of the decompressed file before offset ``before`` (or its end), and where they end."""
    window = bytearray()
    offset = 0
    for block in iter_file(path):
        if before is not None:
            block = block[:max(0, before - offset)]
            if not block:
                break
        offset += len(block)
        window += block
        if len(window) > max_bytes:
            del window[:len(window) - max_bytes]
    return bytes(window), offset


def file_page(path: Path, before: int | None, max_bytes: int) -> LogPage:
    """The part of the uploaded log just before byte ``before`` (default: its end), from a line start.

    A gzip stream cannot be entered in the middle, so the file is
    decompressed from its start up to ``before``, keeping only the last
    ``max_bytes``: time grows with the offset, memory does not.
    """
    try:
        window, end = _window_before(path, before, max_bytes)
    except UNREADABLE_GZIP as ex:
        return LogPage(source=SOURCE_FILE, text="", problem=f"The uploaded log file cannot be read: {ex}")
    start = end - len(window)
    if start > 0:
        newline = window.find(b"\n")
        if 0 <= newline < len(window) - 1:
            window = window[newline + 1:]
            start += newline + 1
    return LogPage(source=SOURCE_FILE, text=window.decode("utf-8", errors="replace"), start=str(start),
                   end=str(end), earlier=start > 0, later=before is not None)


def parse_offset(text: str, field: str) -> int:
    """A byte offset into the uploaded log, as sent back by the client."""
    if not text.isdigit():
        raise CursorError(field, "must be a byte offset (digits) from an earlier answer")
    return int(text)
