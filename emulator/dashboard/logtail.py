"""The live log tail behind the dashboard: numbered records, waited on by HTTP clients.

``EventLog`` fans records out to synchronous subscribers and keeps a ring buffer without
sequence numbers. A browser that reconnects (EventSource sends ``Last-Event-ID``) or
long-polls needs "everything after N", so ``LogTail`` numbers each record as it arrives
and lets handlers wait for the next one. Records may be emitted from worker threads (app
code, SQLite off the loop), so waking a waiter always goes through
``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import collections
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
        self._lock = threading.Lock()
        self._records: collections.deque[tuple[int, LogRecord]] = collections.deque(maxlen=capacity)
        self._seq = 0
        self._waiters: set[asyncio.Future[None]] = set()
        self.closed = False
        # What was logged before the dashboard was mounted (start-up lines) is shown too.
        for record in list(log.recent):
            self._append(record)
        self._unsubscribe = log.subscribe(self._on_record)

    @property
    def last_seq(self) -> int:
        return self._seq

    def _append(self, record: LogRecord) -> None:
        self._seq += 1
        self._records.append((self._seq, record))

    def _on_record(self, record: LogRecord) -> None:
        with self._lock:
            self._append(record)
            waiters = list(self._waiters)
        self._wake(waiters)

    @staticmethod
    def _wake(waiters: list[asyncio.Future[None]]) -> None:
        for fut in waiters:
            loop = fut.get_loop()
            if loop.is_closed():
                continue
            loop.call_soon_threadsafe(lambda f=fut: f.done() or f.set_result(None))

    def since(self, after: int, limit: int = 500) -> list[tuple[int, LogRecord]]:
        """Records numbered above ``after``, oldest first, at most ``limit`` of them."""
        with self._lock:
            newer = [item for item in self._records if item[0] > after]
        return newer[:limit]

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
            # A record may have landed between `since` and registering the waiter.
            raced = self._seq > after
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
        self.closed = True
        self._unsubscribe()
        with self._lock:
            waiters = list(self._waiters)
        self._wake(waiters)
