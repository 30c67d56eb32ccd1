"""The emulator's log: structured records, rendered at the edge.

Every part of the emulator (request log, queue batch lines, workflow steps, app output)
emits ``LogRecord``s here. ``dev`` prints them as text (wrangler-like) or JSON lines; the
dashboard's live tail and the pytest plugin's captured logs subscribe to the same stream.
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TextIO
from collections.abc import Callable

Level = Literal["debug", "info", "warn", "error"]
_LEVELS: dict[str, int] = {"debug": 10, "info": 20, "warn": 30, "error": 40}


# Not frozen: a frozen dataclass's __init__ costs ~4x more, and one record is made per
# request on the hot path (bench/http.py). Treat records as read-only all the same.
@dataclass(slots=True)
class LogRecord:
    level: Level
    source: str  # "queues", "workflows", "http", "app:<name>", ...
    message: str
    time: float = field(default_factory=time.time)
    fields: dict[str, Any] = field(default_factory=dict)
    # Position in the EventLog that emitted it (1, 2, ...; 0 until emitted): readers such
    # as the dashboard's tail ask for "everything after N" without numbering a copy.
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["seq"]  # an internal position, not part of the JSON log line
        return out


Subscriber = Callable[[LogRecord], None]
_now = time.time


class EventLog:
    """Fan-out of log records to subscribers, with a ring buffer of recent, numbered ones.

    Every record gets the next sequence number (``LogRecord.seq``) as it enters the ring,
    so a reader that needs "everything after N" (the dashboard's live tail) reads the ring
    with ``after`` instead of keeping a numbered copy of every record: one record is
    emitted per request, so the emit path stays short (bench/http.py).
    """

    def __init__(self, capacity: int = 2000, max_chars: int = 8 * 1024 * 1024) -> None:
        self.recent: collections.deque[LogRecord] = collections.deque(maxlen=capacity)
        # The ring is bounded in size as well as in count: an app printing megabyte lines
        # would otherwise keep `capacity` of them. Counts message characters (the fields
        # are small by construction); the newest record is always kept.
        self.max_chars = max_chars
        self._chars = 0
        # A tuple, replaced on (un)subscribe: emit iterates a snapshot without copying.
        self._subscribers: tuple[Subscriber, ...] = ()
        # Records come from worker threads too: numbering and appending happen together,
        # so the ring is always in sequence order.
        self._lock = threading.Lock()
        self.last_seq = 0

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subscribers = (*self._subscribers, fn)

        def unsubscribe() -> None:
            subscribers = list(self._subscribers)
            if fn in subscribers:
                subscribers.remove(fn)
                self._subscribers = tuple(subscribers)

        return unsubscribe

    def emit(self, level: Level, source: str, message: str, **fields: Any) -> LogRecord:
        return self.emit_fields(level, source, message, fields)

    def emit_fields(self, level: Level, source: str, message: str, fields: dict[str, Any]) -> LogRecord:
        """``emit`` with the fields as a dict (the record keeps that dict).

        The server's request log line calls this directly: a dict literal costs half of
        packing keyword arguments, and this runs once per request (bench/http.py).
        """
        lock = self._lock
        # acquire/release rather than `with`: half the cost, on every record.
        lock.acquire()
        try:
            seq = self.last_seq = self.last_seq + 1
            record = LogRecord(level, source, message, _now(), fields, seq)
            recent = self.recent
            if len(recent) == recent.maxlen:
                self._chars -= len(recent[0].message)  # about to fall out of the ring
            recent.append(record)
            chars = self._chars = self._chars + len(message)
            if chars > self.max_chars:
                while len(recent) > 1 and self._chars > self.max_chars:
                    self._chars -= len(recent.popleft().message)
        finally:
            lock.release()
        for fn in self._subscribers:
            fn(record)
        return record

    def after(self, seq: int, upto: int | None = None) -> list[LogRecord]:
        """Records still in the ring numbered above ``seq`` (and at most ``upto``), oldest first."""
        newer: list[LogRecord] = []
        with self._lock:
            # Newest first, stopping at the first old one: a poller usually wants a few.
            for record in reversed(self.recent):
                if record.seq <= seq:
                    break
                if upto is None or record.seq <= upto:
                    newer.append(record)
        newer.reverse()
        return newer

    def debug(self, source: str, message: str, **fields: Any) -> LogRecord:
        return self.emit("debug", source, message, **fields)

    def info(self, source: str, message: str, **fields: Any) -> LogRecord:
        return self.emit("info", source, message, **fields)

    def warn(self, source: str, message: str, **fields: Any) -> LogRecord:
        return self.emit("warn", source, message, **fields)

    def error(self, source: str, message: str, **fields: Any) -> LogRecord:
        return self.emit("error", source, message, **fields)

    def messages(self, level: Level | None = None, source: str | None = None) -> list[str]:
        """Recent messages, optionally filtered (handy in tests)."""
        return [
            r.message
            for r in self.recent
            if (level is None or r.level == level) and (source is None or r.source == source)
        ]


class ConsolePrinter:
    """Prints records to a stream: wrangler-like text, or one JSON object per line."""

    def __init__(self, fmt: Literal["text", "json"] = "text", min_level: Level = "info",
                 stream: TextIO | None = None) -> None:
        self.fmt = fmt
        self.min_level = _LEVELS[min_level]
        self.stream = stream or sys.stderr

    def __call__(self, record: LogRecord) -> None:
        if _LEVELS[record.level] < self.min_level:
            return
        if self.fmt == "json":
            line = json.dumps(record.to_json(), default=str)
        else:
            prefix = {"warn": "▲ [WARNING] ", "error": "✘ [ERROR] "}.get(record.level, "")
            source = f"[{record.source[4:]}] " if record.source.startswith("app:") else ""
            line = f"{prefix}{source}{record.message}"
        print(line, file=self.stream, flush=True)
