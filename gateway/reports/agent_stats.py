"""Agent performance (绩效) and the team's figures for a period, read from storage.

The conversations created from ``LOOKBACK`` before the period to its end (newest first,
at most ``MAX_CONVERSATIONS``) and their messages are read once; everything is counted
on the day (in the report's time zone) it happened:

* **handled** — conversations the agent replied in that day; **resolved** — resolved that
  day while the agent held them;
* **first response** — of conversations whose first agent reply was theirs that day: the
  conversation's first-response time; **reply time** — each reply: from the first customer
  message it answered (the oldest since the previous reply); medians, in seconds;
* **handle time** — claim to resolve of the conversations they resolved (median);
* **CSAT** — ratings given that day of conversations they held (average, count);
* **SLA attainment** — their replies within the channel's reply target ÷ their replies;
* **cases on time** — cases they resolved that day by the deadline in force ÷ resolved.

Team series per day: new conversations by channel, SLA attainment, CSAT (ratings and
survey answers), and self-service (episodes started, deflected, handed off — from each
conversation's latest episode).
"""

from __future__ import annotations

import asyncio
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.model import Channel, ConversationStatus, Direction, Message
from gateway.storage.base import Store
from gateway.storage.case_records import CaseRecord

DAY_MS = 86_400_000
LOOKBACK_MS = 30 * DAY_MS
MAX_CONVERSATIONS = 20_000
PAGE = 200
READS_AT_ONCE = 32


@dataclass(frozen=True, slots=True)
class Period:
    from_ms: int
    to_ms: int  # excluded
    zone: ZoneInfo

    def day(self, ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(self.zone).date().isoformat()

    def holds(self, ms: int | None) -> bool:
        return ms is not None and self.from_ms <= ms < self.to_ms

    def days(self) -> list[str]:
        first = date.fromisoformat(self.day(self.from_ms))
        last = date.fromisoformat(self.day(self.to_ms - 1))
        return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


@dataclass(slots=True)
class AgentDay:
    handled: set[str] = field(default_factory=set)
    resolved: int = 0
    first_response: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    handle: list[float] = field(default_factory=list)
    scores: list[int] = field(default_factory=list)
    replies_in_target: int = 0
    cases_resolved: int = 0
    cases_on_time: int = 0

    def add(self, other: AgentDay) -> None:
        self.handled |= other.handled
        self.resolved += other.resolved
        self.first_response += other.first_response
        self.reply += other.reply
        self.handle += other.handle
        self.scores += other.scores
        self.replies_in_target += other.replies_in_target
        self.cases_resolved += other.cases_resolved
        self.cases_on_time += other.cases_on_time

    def view(self) -> dict[str, Any]:
        return {
            "handled": len(self.handled),
            "resolved": self.resolved,
            "first_response_seconds_median": _median(self.first_response),
            "reply_seconds_median": _median(self.reply),
            "replies": len(self.reply),
            "handle_seconds_median": _median(self.handle),
            "csat_average": round(sum(self.scores) / len(self.scores), 2) if self.scores else None,
            "csat_count": len(self.scores),
            "sla_attainment": round(self.replies_in_target / len(self.reply), 4) if self.reply else None,
            "cases_resolved": self.cases_resolved,
            "cases_on_time": self.cases_on_time,
            "cases_on_time_rate": round(self.cases_on_time / self.cases_resolved, 4) if self.cases_resolved else None,
        }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


@dataclass(slots=True)
class TeamDay:
    volume: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    replies: int = 0
    replies_in_target: int = 0
    scores: list[int] = field(default_factory=list)
    survey_scores: list[int] = field(default_factory=list)
    episodes: int = 0
    deflected: int = 0
    handed_off: int = 0

    def view(self) -> dict[str, Any]:
        all_scores = self.scores + self.survey_scores
        return {
            "volume_by_channel": dict(sorted(self.volume.items())),
            "conversations": sum(self.volume.values()),
            "replies": self.replies,
            "sla_attainment": round(self.replies_in_target / self.replies, 4) if self.replies else None,
            "csat_average": round(sum(all_scores) / len(all_scores), 2) if all_scores else None,
            "csat_count": len(self.scores),
            "survey_answers": len(self.survey_scores),
            "self_service_episodes": self.episodes,
            "deflected": self.deflected,
            "handed_off": self.handed_off,
            "deflection_rate": round(self.deflected / self.episodes, 4) if self.episodes else None,
        }


class Report:
    def __init__(self, period: Period, target: Callable[[Channel], float]) -> None:
        self.period = period
        self.target = target
        self.agents: dict[str, dict[str, AgentDay]] = defaultdict(lambda: defaultdict(AgentDay))
        self.team: dict[str, TeamDay] = defaultdict(TeamDay)
        self.conversations = 0
        self.truncated = False

    def agent(self, name: str, ms: int) -> AgentDay:
        return self.agents[name][self.period.day(ms)]

    def conversation(self, conv: Any, messages: list[Message]) -> None:
        period = self.period
        created = _ms(conv.created_at)
        if period.holds(created):
            self.team[period.day(created)].volume[conv.channel.value] += 1
        waiting_from: int | None = None
        first_agent_reply = True
        for m in messages:
            at = _ms(m.received_at) or 0
            if m.direction is Direction.INBOUND:
                if waiting_from is None:
                    waiting_from = at
                continue
            if m.direction is not Direction.OUTBOUND or m.sender.kind != "agent" or not m.sender.id:
                continue
            if period.holds(at):
                day = self.agent(m.sender.id, at)
                day.handled.add(conv.id)
                if first_agent_reply and conv.first_response_seconds is not None:
                    day.first_response.append(float(conv.first_response_seconds))
                if waiting_from is not None:
                    seconds = (at - waiting_from) / 1000
                    within = seconds <= self.target(conv.channel)
                    day.reply.append(seconds)
                    day.replies_in_target += within
                    team = self.team[period.day(at)]
                    team.replies += 1
                    team.replies_in_target += within
            first_agent_reply = False
            waiting_from = None
        resolved = _ms(conv.resolved_at)
        if conv.status is ConversationStatus.RESOLVED and period.holds(resolved) and conv.assignee:
            assert resolved is not None
            day = self.agent(conv.assignee, resolved)
            day.resolved += 1
            claimed = _ms(conv.claimed_at)
            if claimed is not None and claimed <= resolved:
                day.handle.append((resolved - claimed) / 1000)
        self._ratings(conv)
        self._self_service(conv)

    def _ratings(self, conv: Any) -> None:
        for name, team_only in (("rating", False), ("survey", True)):
            record = conv.attributes.get(name)
            if not isinstance(record, dict) or not isinstance(record.get("score"), int):
                continue
            try:
                at = int(datetime.fromisoformat(str(record.get("at"))).timestamp() * 1000)
            except ValueError:
                continue
            if not self.period.holds(at):
                continue
            team = self.team[self.period.day(at)]
            if team_only:
                team.survey_scores.append(record["score"])
                continue
            team.scores.append(record["score"])
            if conv.assignee:
                self.agent(conv.assignee, at).scores.append(record["score"])

    def _self_service(self, conv: Any) -> None:
        episode = conv.attributes.get("self_service")
        if not isinstance(episode, dict) or not isinstance(episode.get("started_ms"), int):
            return
        started = episode["started_ms"]
        if not self.period.holds(started):
            return
        team = self.team[self.period.day(started)]
        team.episodes += 1
        if episode.get("state") == "handed_off":
            team.handed_off += 1
        elif conv.status is ConversationStatus.RESOLVED and not conv.assignee:
            team.deflected += 1

    def cases(self, resolved: Iterable[CaseRecord]) -> None:
        for case in resolved:
            if not self.period.holds(case.resolved_ms) or not case.resolved_by or case.resolved_ms is None:
                continue
            day = self.agent(case.resolved_by, case.resolved_ms)
            day.cases_resolved += 1
            day.cases_on_time += bool(case.on_time)

    def view(self) -> dict[str, Any]:
        agents = []
        for name in sorted(self.agents):
            days = self.agents[name]
            total = AgentDay()
            for one in days.values():
                total.add(one)
            agents.append(
                {
                    "agent": name,
                    "total": total.view(),
                    "days": [{"day": d, **days[d].view()} for d in sorted(days)],
                }
            )
        team = [{"day": d, **self.team[d].view()} for d in self.period.days()]
        return {"agents": agents, "team": team, "conversations_read": self.conversations, "truncated": self.truncated}


async def collect(
    store: Store,
    period: Period,
    target: Callable[[Channel], float],
    cases: Iterable[CaseRecord] = (),
    *,
    max_conversations: int = MAX_CONVERSATIONS,
) -> dict[str, Any]:
    """The report: conversations created from ``LOOKBACK_MS`` before the period to its end."""
    report = Report(period, target)
    before: int | None = period.to_ms
    oldest = period.from_ms - LOOKBACK_MS
    while before is not None and report.conversations < max_conversations:
        page = await store.list_conversations(limit=PAGE, before=before)
        batch = [c for c in page.conversations if (_ms(c.created_at) or 0) >= oldest]
        for start in range(0, len(batch), READS_AT_ONCE):
            chunk = batch[start : start + READS_AT_ONCE]
            histories = await asyncio.gather(*(store.get_messages(c.id, limit=500) for c in chunk))
            for conv, messages in zip(chunk, histories, strict=True):
                report.conversation(conv, messages)
        report.conversations += len(batch)
        if len(batch) < len(page.conversations) or page.next_before is None:
            break
        before = page.next_before
    else:
        report.truncated = before is not None
    report.cases(cases)
    return report.view()
