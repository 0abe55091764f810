"""The reader's common part: every problem collected with its line, and the plain values
(mappings, word lists, whole numbers, dates, time intervals) the sections are made of."""

from __future__ import annotations

from datetime import date

from gateway.routing.calendar import Interval, parse_interval
from gateway.routing.rules.ruleset import RulesError
from gateway.routing.rules.yaml_lines import Entry, Located


class Reader:
    """One pass over the located YAML of the file at ``path``, collecting every problem
    before giving up."""

    def __init__(self, *, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.problems: list[tuple[int, int, str]] = []

    def error(self, line: int, message: str) -> None:
        self.problems.append((line, len(self.problems), message))

    def fail(self) -> RulesError:
        ordered = sorted(self.problems)
        return RulesError([f"{self.path}:{line}: {message}" for line, _, message in ordered])

    def mapping(self, located: Located | None, what: str, *, allow_null: bool = False) -> dict[str, Entry] | None:
        if located is None or (allow_null and located.value is None):
            return {}
        if not located.is_mapping:
            self.error(located.line, f"{what} must be a mapping")
            return None
        return located.value

    def unknown_keys(self, entries: dict[str, Entry], known: tuple[str, ...], what: str) -> None:
        for key, entry in entries.items():
            if key not in known:
                self.error(entry.key_line, f"{what}: unknown key {key!r} (known keys: {', '.join(known)})")

    def text_list(self, located: Located, what: str, *, allow_scalar: bool = True) -> list[tuple[str, int]] | None:
        """A list of non-empty words as written (a single word is a list of one)."""
        items = located.value if located.is_list else ([located] if allow_scalar and not located.is_mapping else None)
        if items is None:
            self.error(located.line, f"{what} must be a list")
            return None
        if not items:
            self.error(located.line, f"{what} is an empty list, which never matches")
            return None
        found: list[tuple[str, int]] = []
        for item in items:
            if item.raw is None or item.value is None:
                self.error(item.line, f"{what}: each entry must be plain text")
                continue
            word = item.raw.strip()
            if not word:
                self.error(item.line, f"{what}: an empty entry")
                continue
            found.append((word, item.line))
        return found

    def integer(self, located: Located, what: str, low: int, high: int) -> int | None:
        value = located.value
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(located.line, f"{what} must be a whole number from {low} to {high}, not {located.raw!r}")
            return None
        return value

    def calendar_date(self, text: str, line: int, what: str) -> date | None:
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.error(line, f"{what}: {text!r} is not a date (write YYYY-MM-DD)")
            return None

    def intervals(self, located: Located, what: str) -> tuple[Interval, ...]:
        """``["09:00-12:00", "13:00-18:00"]``: sorted, none overlapping another."""
        if located.value is None:
            return ()
        if not located.is_list:
            self.error(located.line, f'{what} must be a list of intervals such as ["09:00-12:00"]')
            return ()
        intervals: list[Interval] = []
        for item in located.value:
            try:
                interval = parse_interval(item.raw if item.raw is not None else item.value)
            except ValueError as exc:
                self.error(item.line, f"{what}: {exc}")
                continue
            for other in intervals:
                if interval.start < other.end and other.start < interval.end:
                    self.error(item.line, f"{what}: {interval} overlaps {other}")
                    break
            else:
                intervals.append(interval)
        return tuple(sorted(intervals, key=lambda i: i.start))
