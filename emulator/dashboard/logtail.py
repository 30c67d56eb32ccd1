"""The live log tail behind the dashboard: numbered records, waited on by HTTP clients.

A browser that reconnects (EventSource sends ``Last-Event-ID``) or long-polls needs
"everything after N". ``EventLog`` numbers every record as it enters its ring
(``LogRecord.seq``), so ``LogTail`` reads that ring rather than keeping a numbered copy of
each record: the request log line is emitted on every request, and copying it here was a
measurable share of the request path (bench/http.py). The tail numbers from 1 at the
oldest record the log still held when the dashboard was mounted, and shows at most the
newest ``capacity`` records (and no more than the log's own ring keeps). Records may be
emitted from worker threads (app code, SQLite off the loop), so waking a waiter always
goes through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from emulator.logs import EventLog, LogRecord


def record_json(seq: int, record: LogRecord) -> dict[str, Any]:
    """The wire shape of one log line (the dashboard and `?after=` pollers read it)."""
    return {
        "seq": seq,
        "time": record.time,
        "level": record.level,
        "source": record.source,
        "message": record.message,
        "fields": record.fields,
    }


class LogTail:
    """Numbered recent log records plus wake-ups for clients waiting on new ones."""

    def __init__(self, log: EventLog, capacity: int = 2000) -> None:
        self._log = log
        self._capacity = capacity
        # Guards `_waiters` (records are emitted from other threads too).
        self._lock = threading.Lock()
        self._waiters: set[asyncio.Future[None]] = set()
        self.closed = False
        # What was logged before the dashboard was mounted (start-up lines) is shown too:
        # the tail's number of a record is its log number minus `_base`.
        last = log.last_seq
        recent = log.after(0)
        self._base = recent[0].seq - 1 if recent else last
        # The log's number of the last record shown once closed (None while open).
        self._end: int | None = None
        self._unsubscribe = log.subscribe(self._on_record)

    @property
    def last_seq(self) -> int:
        end = self._end
        return (self._log.last_seq if end is None else end) - self._base

    def _on_record(self, record: LogRecord) -> None:
        # Nothing to copy: the record is already numbered in the log's ring. A waiter that
        # registers after this check sees the new number itself (see `wait`).
        if self._waiters:
            with self._lock:
                waiters = list(self._waiters)
            self._wake(waiters)

    @staticmethod
    def _wake(waiters: list[asyncio.Future[None]]) -> None:
        for fut in waiters:
            loop = fut.get_loop()
            if loop.is_closed():
                continue
            loop.call_soon_threadsafe(_resolve, fut)

    def since(self, after: int, limit: int = 500) -> list[tuple[int, LogRecord]]:
        """Records numbered above ``after``, oldest first, at most ``limit`` of them."""
        last = self.last_seq
        # Only the newest `capacity` records are kept.
        first = max(after, last - self._capacity)
        if first >= last:
            return []
        base = self._base
        records = self._log.after(first + base, upto=last + base)
        return [(record.seq - base, record) for record in records[:limit]]

    async def wait(self, after: int, timeout: float, limit: int = 500) -> list[tuple[int, LogRecord]]:
        """Records after ``after``; if none yet, wait up to ``timeout`` seconds for one.

        The timeout is a network keep-alive for the browser, not emulated time, so it runs
        on the event loop's real clock even when the platform uses a ``FakeClock``.
        """
        records = self.since(after, limit)
        if records or self.closed:
            return records
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiters.add(fut)
        # A record may have landed between `since` and registering the waiter: the log
        # numbers a record before telling subscribers, so either this sees its number or
        # `_on_record` sees this waiter.
        raced = self.last_seq > after
        try:
            if not raced:
                await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(fut)
        return self.since(after, limit)

    def close(self) -> None:
        """End every waiting stream (server shutdown must not wait on open browsers)."""
        self._end = self._log.last_seq
        self.closed = True
        self._unsubscribe()
        with self._lock:
            waiters = list(self._waiters)
        self._wake(waiters)


def _resolve(fut: asyncio.Future[None]) -> None:
    """Wake one waiter, on its own loop (it may have been resolved or cancelled meanwhile)."""
    if not fut.done():
        fut.set_result(None)
