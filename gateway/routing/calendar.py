"""Business hours: is the support desk open at a given instant?

Hours are written in the desk's own time zone, so the instant is converted there first
(a UTC timestamp of 01:30 is 09:30 in Shanghai). Intervals are half-open — ``09:00-12:00``
is open at 09:00 and closed at 12:00 — so ``["09:00-12:00", "13:00-18:00"]`` is closed
from 12:00:00 through 12:59:59 and open again at 13:00. Holidays close a whole day;
special days (make-up working days, half days) replace the weekly hours for that date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = {"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat", "sun": "Sun"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    """Minutes since local midnight, ``start`` included, ``end`` excluded (1440 = 24:00)."""

    start: int
    end: int

    def contains(self, minute: float) -> bool:
        return self.start <= minute < self.end

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_interval(text: str) -> Interval:
    """``"09:00-12:00"`` → Interval; ``ValueError`` says what is wrong."""
    if not isinstance(text, str) or text.count("-") != 1:
        raise ValueError(f"bad time interval {text!r}: write it as HH:MM-HH:MM, e.g. 09:00-12:00")
    left, right = (part.strip() for part in text.split("-"))
    start, end = _minutes(left, text), _minutes(right, text)
    if start >= 24 * 60:
        raise ValueError(f"bad time interval {text!r}: it cannot start at 24:00")
    if end <= start:
        raise ValueError(
            f"bad time interval {text!r}: the end must be after the start "
            "(split hours past midnight over two days: 22:00-24:00 and 00:00-02:00)"
        )
    return Interval(start=start, end=end)


def _minutes(part: str, whole: str) -> int:
    hours, sep, minutes = part.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2 or len(hours) > 2:
        raise ValueError(f"bad time interval {whole!r}: write it as HH:MM-HH:MM, e.g. 09:00-12:00")
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m != 0):
        raise ValueError(f"bad time interval {whole!r}: {part} is not a time of day")
    return h * 60 + m


@dataclass(frozen=True, slots=True, kw_only=True)
class BusinessHours:
    timezone: ZoneInfo
    weekly: dict[int, tuple[Interval, ...]] = field(default_factory=dict)  # 0 = Monday; absent = closed
    holidays: frozenset[date] = frozenset()
    special_days: dict[date, tuple[Interval, ...]] = field(default_factory=dict)

    def local(self, at: datetime) -> datetime:
        """``at`` on the desk's wall clock; a naive ``at`` already is."""
        if at.tzinfo is None:
            return at.replace(tzinfo=self.timezone)
        return at.astimezone(self.timezone)

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        if day in self.holidays:
            return ()
        if day in self.special_days:
            return self.special_days[day]
        return self.weekly.get(day.weekday(), ())

    def is_open(self, at: datetime) -> bool:
        local = self.local(at)
        minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
        return any(interval.contains(minute) for interval in self.intervals_on(local.date()))

    def add_business_time(self, start: datetime, seconds: float) -> datetime:
        """``start`` plus ``seconds`` counted only while the desk is open.

        Used for reply deadlines that pause outside business hours: a message at 17:50
        with a 30-minute target on a 09:00–18:00 desk is due at 09:20 the next open day.
        Wall-clock times are turned back into instants through the time zone.
        """
        remaining = seconds / 60
        local = self.local(start)
        day = local.date()
        minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
        for _ in range(3700):  # ten years of days: a calendar that never opens gives up
            for interval in self.intervals_on(day):
                lo = max(float(interval.start), minute)
                if interval.end <= lo:
                    continue
                if remaining <= interval.end - lo:
                    wall = datetime.combine(day, time()) + timedelta(minutes=lo + remaining)
                    return wall.replace(tzinfo=self.timezone).astimezone(UTC)
                remaining -= interval.end - lo
            day += timedelta(days=1)
            minute = 0.0
        raise ValueError("business hours never open: cannot count business time")

    def describe(self, at: datetime) -> str:
        """``Sat 2026-10-03 10:30 Asia/Shanghai, a holiday`` — for explanations."""
        local = self.local(at)
        day = local.date()
        stamp = f"{DAY_NAMES[DAYS[day.weekday()]]} {day.isoformat()} {local.strftime('%H:%M')} {self.timezone.key}"
        if day in self.holidays:
            return f"{stamp}, a holiday"
        hours = self.intervals_on(day)
        if not hours:
            return f"{stamp}, closed all day"
        return f"{stamp}, open {', '.join(str(i) for i in hours)}"


def at_local(value: datetime, zone: ZoneInfo) -> datetime:
    """An aware datetime: naive values are read as wall-clock time in ``zone``."""
    return value.replace(tzinfo=zone) if value.tzinfo is None else value
