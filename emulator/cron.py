"""Cron Triggers: parse `[triggers] crons` expressions and fire them on ``platform.clock``.

Cloudflare evaluates cron triggers in **UTC** with five fields (minute, hour, day of month,
month, day of week). Its documented syntax, which this module follows:

========== =============================== ==================
field      values                          special characters
========== =============================== ==================
minute     0-59                            ``* , - /``
hour       0-23                            ``* , - /``
day/month  1-31                            ``* , - / L W``
month      1-12 or JAN-DEC                 ``* , - /``
day/week   1-7 or SUN-SAT (1 = Sunday)     ``* , - / L #``
========== =============================== ==================

Day of week follows Cloudflare's numbering (``1`` = Sunday … ``7`` = Saturday, so
``mon-fri`` is ``2-6``); ``0`` is also read as Sunday so that a standard-cron ``0`` does not
silently fail to parse. When both day fields are restricted a day matches if either does
(Vixie cron's rule). ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/
``@midnight`` and ``@hourly`` are accepted as shorthands.

``CronScheduler`` arms one ``clock.call_at`` timer per expression, so ``FakeClock.advance``
fires crons deterministically in tests.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
from dataclasses import dataclass
from collections.abc import Awaitable, Callable

from emulator.clock import Clock, TimerHandle
from emulator.errors import EmulatorError

_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
# Cloudflare numbering: SUN=1 … SAT=7.
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 1",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# Enough to find the next run of any valid expression (Feb 29 on a given weekday recurs
# within 28 years); bounded so an impossible one (`0 0 31 2 *`) fails instead of looping.
_SEARCH_DAYS = 366 * 29


# Also a ValueError: a bad value in the config, as int() reports a bad number.
class CronError(EmulatorError, ValueError):
    """A cron expression that cannot be parsed (or never fires)."""


def _cf_weekday(day: dt.date) -> int:
    """Cloudflare's weekday number of a date: Sunday = 1 … Saturday = 7."""
    return (day.weekday() + 1) % 7 + 1


def _parse_value(token: str, lo: int, hi: int, names: dict[str, int] | None, field: str) -> int:
    upper = token.upper()
    if names and upper in names:
        return names[upper]
    if not token.isdigit():
        raise CronError(f"invalid value {token!r} in the {field} field")
    value = int(token)
    if field == "day-of-week" and value == 0:
        value = 1  # standard cron's Sunday
    if not lo <= value <= hi:
        raise CronError(f"{field} value {value} is out of range {lo}-{hi}")
    return value


def _parse_set(text: str, lo: int, hi: int, names: dict[str, int] | None, field: str) -> frozenset[int] | None:
    """The values a plain field allows; None means unrestricted (``*``)."""
    if text == "*":
        return None
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"empty list item in the {field} field")
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"invalid step {step_text!r} in the {field} field")
            step = int(step_text)
        if part == "*":
            start, end = lo, hi
        elif "-" in part:
            a, b = part.split("-", 1)
            start = _parse_value(a, lo, hi, names, field)
            end = _parse_value(b, lo, hi, names, field)
            if end < start:
                raise CronError(f"range {part!r} in the {field} field runs backwards")
        else:
            start = _parse_value(part, lo, hi, names, field)
            # `5/15` means "from 5 every 15", as in Vixie/Quartz cron.
            end = hi if step > 1 else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class _DayOfMonth:
    values: frozenset[int] | None
    last: bool = False  # `L`: last day of the month
    last_weekday: bool = False  # `LW`
    nearest_weekday: int | None = None  # `15W`

    @property
    def restricted(self) -> bool:
        return self.values is not None or self.last or self.last_weekday or self.nearest_weekday is not None

    def matches(self, day: dt.date) -> bool:
        last_dom = calendar.monthrange(day.year, day.month)[1]
        if self.last:
            return day.day == last_dom
        if self.last_weekday:
            target = dt.date(day.year, day.month, last_dom)
            while target.weekday() >= 5:
                target -= dt.timedelta(days=1)
            return day == target
        if self.nearest_weekday is not None:
            n = min(self.nearest_weekday, last_dom)
            target = dt.date(day.year, day.month, n)
            if target.weekday() == 5:  # Saturday → Friday, unless that leaves the month
                target = target - dt.timedelta(days=1) if n > 1 else target + dt.timedelta(days=2)
            elif target.weekday() == 6:  # Sunday → Monday, unless that leaves the month
                target = target + dt.timedelta(days=1) if n < last_dom else target - dt.timedelta(days=2)
            return day == target
        return self.values is None or day.day in self.values


@dataclass(frozen=True)
class _DayOfWeek:
    values: frozenset[int] | None
    last_of: int | None = None  # `5L`: the last Thursday of the month
    nth: tuple[int, int] | None = None  # `2#1`: (weekday, n) = the first Monday

    @property
    def restricted(self) -> bool:
        return self.values is not None or self.last_of is not None or self.nth is not None

    def matches(self, day: dt.date) -> bool:
        weekday = _cf_weekday(day)
        if self.last_of is not None:
            last_dom = calendar.monthrange(day.year, day.month)[1]
            return weekday == self.last_of and day.day + 7 > last_dom
        if self.nth is not None:
            wanted, n = self.nth
            return weekday == wanted and (day.day - 1) // 7 + 1 == n
        return self.values is None or weekday in self.values


def _parse_dom(text: str) -> _DayOfMonth:
    upper = text.upper()
    if upper == "L":
        return _DayOfMonth(None, last=True)
    if upper == "LW":
        return _DayOfMonth(None, last_weekday=True)
    if upper.endswith("W"):
        return _DayOfMonth(None, nearest_weekday=_parse_value(upper[:-1], 1, 31, None, "day-of-month"))
    return _DayOfMonth(_parse_set(text, 1, 31, None, "day-of-month"))


def _parse_dow(text: str) -> _DayOfWeek:
    upper = text.upper()
    if upper == "L":
        return _DayOfWeek(frozenset({7}))  # `L` alone in day-of-week is Saturday (Quartz)
    if upper.endswith("L"):
        return _DayOfWeek(None, last_of=_parse_value(upper[:-1], 0, 7, _DAYS, "day-of-week"))
    if "#" in upper:
        day_text, n_text = upper.split("#", 1)
        if not n_text.isdigit() or not 1 <= int(n_text) <= 5:
            raise CronError(f"invalid occurrence {n_text!r} in the day-of-week field (1-5)")
        return _DayOfWeek(None, nth=(_parse_value(day_text, 0, 7, _DAYS, "day-of-week"), int(n_text)))
    return _DayOfWeek(_parse_set(text, 0, 7, _DAYS, "day-of-week"))


@dataclass(frozen=True)
class CronExpression:
    """A parsed cron expression; ``next_after`` gives its next fire time (UTC)."""

    source: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    dom: _DayOfMonth
    months: frozenset[int] | None
    dow: _DayOfWeek

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        source = text
        expr = ALIASES.get(text.strip().lower(), text)
        fields = expr.split()
        if len(fields) != 5:
            raise CronError(
                f"cron expression {source!r} must have 5 fields (minute hour day-of-month month day-of-week), "
                f"got {len(fields)}"
            )
        minute, hour, dom, month, dow = fields
        minutes = _parse_set(minute, 0, 59, None, "minute")
        hours = _parse_set(hour, 0, 23, None, "hour")
        return cls(
            source=source,
            minutes=tuple(sorted(minutes if minutes is not None else range(60))),
            hours=tuple(sorted(hours if hours is not None else range(24))),
            dom=_parse_dom(dom),
            months=_parse_set(month, 1, 12, _MONTHS, "month"),
            dow=_parse_dow(dow),
        )

    def day_matches(self, day: dt.date) -> bool:
        if self.months is not None and day.month not in self.months:
            return False
        if self.dom.restricted and self.dow.restricted:
            return self.dom.matches(day) or self.dow.matches(day)
        return self.dom.matches(day) and self.dow.matches(day)

    def next_after(self, timestamp: float) -> float:
        """The first fire time (epoch seconds, UTC) strictly after ``timestamp``."""
        start = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).replace(second=0, microsecond=0)
        start += dt.timedelta(minutes=1)
        day = start.date()
        for offset in range(_SEARCH_DAYS):
            if offset:
                day += dt.timedelta(days=1)
            if not self.day_matches(day):
                continue
            first_day = offset == 0
            for hour in self.hours:
                if first_day and hour < start.hour:
                    continue
                for minute in self.minutes:
                    if first_day and hour == start.hour and minute < start.minute:
                        continue
                    fire = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
                    return fire.timestamp()
        raise CronError(f"cron expression {self.source!r} never fires")


ScheduledCallback = Callable[[str, int], Awaitable[None]]


@dataclass
class _Entry:
    owner: str
    expression: CronExpression
    callback: ScheduledCallback
    handle: TimerHandle | None = None


class CronScheduler:
    """Fires each registered cron at its next UTC minute through the injected clock.

    Like Cloudflare, a cron that was due while the process was not running is not caught
    up: after a fire the next time is computed from the later of the scheduled time and
    now, so a suspended laptop does not replay a burst of missed runs.
    """

    def __init__(self, clock: Clock, on_error: Callable[[str, str, BaseException], None] | None = None) -> None:
        self.clock = clock
        self.on_error = on_error
        self._entries: list[_Entry] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False

    def add(self, owner: str, cron: str, callback: ScheduledCallback) -> CronExpression:
        """Register ``callback(cron, scheduled_time_ms)`` for ``cron``; raises ``CronError``."""
        entry = _Entry(owner, CronExpression.parse(cron), callback)
        self._entries.append(entry)
        if self._running:
            self._arm(entry, self.clock.now())
        return entry.expression

    def remove_owner(self, owner: str) -> None:
        """Forget every cron of one owner (an app being reloaded with new triggers)."""
        for entry in [e for e in self._entries if e.owner == owner]:
            if entry.handle is not None:
                entry.handle.cancel()
            self._entries.remove(entry)

    def next_fire_times(self) -> dict[tuple[str, str], float]:
        now = self.clock.now()
        return {(e.owner, e.expression.source): e.expression.next_after(now) for e in self._entries}

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        now = self.clock.now()
        for entry in self._entries:
            self._arm(entry, now)

    async def stop(self) -> None:
        self._running = False
        for entry in self._entries:
            if entry.handle is not None:
                entry.handle.cancel()
                entry.handle = None
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _arm(self, entry: _Entry, after: float) -> None:
        when = entry.expression.next_after(after)
        entry.handle = self.clock.call_at(when, lambda: self._fire(entry, when))

    def _fire(self, entry: _Entry, when: float) -> None:
        if not self._running or entry not in self._entries:
            return
        task = asyncio.get_running_loop().create_task(self._run(entry, when))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._arm(entry, max(when, self.clock.now()))

    async def _run(self, entry: _Entry, when: float) -> None:
        try:
            await entry.callback(entry.expression.source, round(when * 1000))
        except Exception as exc:  # noqa: BLE001 - a failing handler must not stop the schedule
            if self.on_error is not None:
                self.on_error(entry.owner, entry.expression.source, exc)
