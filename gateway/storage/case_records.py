"""Cases as the store keeps them, and the plans of the steps that write them.

A case is a flat hash (``<prefix>:case:{<number>}``) with its timeline (a list only ever
appended to), its parties, the conversations it concerns and its once-only markers
beside it. Nothing about a case expires: payment institutions keep complaint records for
at least three years, so no case key has a TTL. The ``gateway.cases`` package turns
``CaseRecord`` into what the API shows; the plans are what its steps ask the scripts to do.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class CaseRecord:
    number: str
    category: str
    kind: str
    stage: str
    summary: str
    contact_id: str
    conversation_id: str
    channel: str
    queue: str
    language: str
    created_ms: int
    created_by: str
    first_update_due_ms: int
    first_update_ms: int | None  # the first customer-visible progress (None: none yet)
    due_ms: int  # the answer is due (moves with an extension, and on a reopening)
    original_due_ms: int
    max_due_ms: int
    eta_ms: int  # the date the customer was last told
    extensions: int
    reopened: int
    resolved_ms: int | None
    resolved_by: str | None
    resolution: str | None
    on_time: bool | None  # resolved by the deadline in force then
    closed_ms: int | None
    last_note: str | None  # the latest customer-visible note
    last_note_ms: int | None
    overdue: bool  # the deadline in force passed unanswered
    timeline: list[dict[str, Any]] = field(default_factory=list)
    parties: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)
    party_conversations: dict[int, str] = field(default_factory=dict)


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def case_from_hash(h: dict[str, str]) -> CaseRecord:
    return CaseRecord(
        number=h["number"],
        category=h.get("category", ""),
        kind=h.get("kind", ""),
        stage=h.get("stage", ""),
        summary=h.get("summary", ""),
        contact_id=h.get("contact_id", ""),
        conversation_id=h.get("conversation_id", ""),
        channel=h.get("channel", ""),
        queue=h.get("queue", ""),
        language=h.get("language", ""),
        created_ms=int(h["created_at"]),
        created_by=h.get("created_by", ""),
        first_update_due_ms=int(h.get("first_update_due") or 0),
        first_update_ms=_int(h.get("first_update_at")),
        due_ms=int(h.get("due_at") or 0),
        original_due_ms=int(h.get("original_due_at") or 0),
        max_due_ms=int(h.get("max_due_at") or 0),
        eta_ms=int(h.get("eta") or h.get("due_at") or 0),
        extensions=int(h.get("extensions") or 0),
        reopened=int(h.get("reopened") or 0),
        resolved_ms=_int(h.get("resolved_at")),
        resolved_by=h.get("resolved_by") or None,
        resolution=h.get("resolution") or None,
        on_time={"1": True, "0": False}.get(h.get("on_time", "")),
        closed_ms=_int(h.get("closed_at")),
        last_note=h.get("last_note") or None,
        last_note_ms=_int(h.get("last_note_at")),
        overdue=h.get("overdue") == "1",
        party_conversations={
            int(name.split(":")[1]): value for name, value in h.items() if name.startswith("party:") and value
        },
    )


@dataclass(slots=True, kw_only=True)
class CaseOpenPlan:
    """``case_open.lua``: the case number is ``<stem>-<NNNN>``, the counter of ``stem``."""

    stem: str  # <PREFIX>-<YYYYMMDD>
    conversation_id: str
    category: str
    kind: str
    summary: str
    queue: str
    language: str
    by: str
    now_ms: int
    first_update_due_ms: int
    due_ms: int
    max_due_ms: int
    entry: str  # the first timeline entry, a JSON object (the store numbers it)
    timers: list[tuple[str, int]]  # (member, due ms); members may hold {number} and {seq}
    payload: str  # the case.opened event


@dataclass(slots=True, kw_only=True)
class CaseStepPlan:
    """``case_step.lua``: requirements, then effects (see the script)."""

    number: str
    now_ms: int
    stages: list[str] | None = None  # the case must be in one of these
    equals: dict[str, str] | None = None  # fields that must hold these values
    empty: list[str] | None = None  # fields that must be empty
    once: str | None = None  # a key this step may use only once per case
    stage: str | None = None  # the stage after the step
    set: dict[str, str] | None = None
    incr: dict[str, int] | None = None
    open_index: str | None = None  # "add" (by due time) or "remove"
    resolved_index: str | None = None  # "add" (by resolution time) or "remove"
    entry: str | None = None  # a timeline entry, a JSON object
    party: str | None = None  # a party to add, a JSON object
    timers: list[tuple[str, int]] | None = None  # members may hold {number}, {seq}, {party}
    link: str | None = None  # a conversation the case now concerns
    offer: dict[str, str] | None = None  # {conversation_id, queue, priority, payload}
    event: dict[str, str] | None = None  # {rk, payload}

    def to_json(self) -> str:
        data = {name: value for name, value in asdict(self).items() if value not in (None, False)}
        data["now_ms"] = str(self.now_ms)
        if self.incr:
            data["incr"] = {name: str(by) for name, by in self.incr.items()}
        if self.timers:
            data["timers"] = [[member, str(due)] for member, due in self.timers]
        if self.offer:
            data["offer"] = {name: str(value) for name, value in self.offer.items()}
        return json.dumps(data, ensure_ascii=False)


@dataclass(slots=True, kw_only=True)
class PartyConversationPlan:
    """``case_party.lua``: the conversation with party ``party`` of case ``number``."""

    number: str
    party: int
    identity: str  # e.g. email:refunds@merchant.example
    name: str
    endpoint: str  # our address
    subject: str
    new_contact_id: str
    new_conversation_id: str
    now_ms: int
    attributes: dict[str, str]  # name → JSON-encoded value
    payload: str  # the conversation.opened event


@dataclass(slots=True)
class StepResult:
    ok: bool
    reason: str = "ok"
    stage: str | None = None
    seq: int | None = None
    party: int | None = None


def step_result(reply: list[str]) -> StepResult:
    reason = reply[0]
    stage = reply[1] if len(reply) > 1 and reply[1] else None
    if reason != "ok":
        return StepResult(ok=False, reason=reason, stage=stage)
    seq = int(reply[2]) if len(reply) > 2 and reply[2] else None
    party = int(reply[3]) if len(reply) > 3 and reply[3] else None
    return StepResult(ok=True, stage=stage, seq=seq, party=party)


@dataclass(slots=True)
class OpenResult:
    ok: bool
    reason: str = "ok"  # not_found, exists (``number`` is the open case)
    number: str | None = None


class CaseStore(Protocol):
    """What cases need from the store (``RedisStore`` and ``MemoryStore`` alike)."""

    async def case_open(self, plan: CaseOpenPlan) -> OpenResult: ...
    async def case_step(self, plan: CaseStepPlan) -> StepResult: ...
    async def get_case(self, number: str) -> CaseRecord | None:
        """The case with its timeline, parties and conversations."""
        ...

    async def get_cases(self, numbers: list[str]) -> list[CaseRecord]:
        """The records of ``numbers`` that exist, without timelines, in that order."""
        ...

    async def case_numbers(
        self, *, index: str, newest_first: bool, low: int | None = None, high: int | None = None, limit: int = 200
    ) -> list[str]:
        """Case numbers of an index: ``all``, ``open`` (scored by due time), ``resolved``,
        ``st:<stage>``, ``cat:<category>`` (scored by creation) or ``contact:<id>``."""
        ...

    async def party_conversation(self, plan: PartyConversationPlan) -> tuple[str, bool] | None:
        """(conversation id, made now), or None without the case or party."""
        ...

    async def rate_hit(self, key: str, *, limit: int, window_ms: int) -> int:
        """Count an attempt under ``key`` (shared by every process); 0 when within
        ``limit`` per window, else the ms until the window ends."""
        ...
