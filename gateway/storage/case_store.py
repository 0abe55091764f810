"""Cases in the Redis store (``case_open.lua``, ``case_step.lua``, ``case_party.lua``) and the
limits shared by every process (``rate.lua``). Keys (no TTL on any case key):

* ``<p>:case:{<number>}`` — the case; ``:tl`` its timeline (append-only), ``:parties``,
  ``:convs`` (conversations it concerns), ``:once`` (steps taken once)
* ``<p>:cases:seq:<PREFIX>-<YYYYMMDD>`` — the day's counter of case numbers
* ``<p>:cases:all``, ``:st:<stage>``, ``:cat:<category>`` (by creation), ``:open`` (by due
  time), ``:resolved`` (by resolution); ``<p>:ct:{<contact>}:cases`` — a contact's cases
* ``<p>:rate:<key>`` — a rate-limit window
"""

from __future__ import annotations

import json
from dataclasses import asdict

from gateway.storage.case_records import (
    CaseOpenPlan,
    CaseRecord,
    CaseStepPlan,
    OpenResult,
    PartyConversationPlan,
    StepResult,
    case_from_hash,
    step_result,
)
from gateway.storage.connection import Connection

_BATCH = 500


class CaseRecords(Connection):
    def casek(self, number: str, *rest: str) -> str:
        return ":".join((f"{self.prefix}:case:{{{number}}}", *rest))

    async def case_open(self, plan: CaseOpenPlan) -> OpenResult:
        data = asdict(plan)
        for name in ("now_ms", "first_update_due_ms", "due_ms", "max_due_ms"):
            data[name] = str(data[name])
        data["timers"] = [[member, str(due)] for member, due in plan.timers]
        reply = await self._run("case_open", json.dumps(data, ensure_ascii=False))
        if reply[0] == "ok":
            return OpenResult(ok=True, number=reply[1])
        return OpenResult(ok=False, reason=reply[0], number=reply[1] if len(reply) > 1 else None)

    async def case_step(self, plan: CaseStepPlan) -> StepResult:
        return step_result(await self._run("case_step", plan.to_json()))

    async def get_case(self, number: str) -> CaseRecord | None:
        async with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(self.casek(number))
            pipe.lrange(self.casek(number, "tl"), 0, -1)
            pipe.lrange(self.casek(number, "parties"), 0, -1)
            pipe.zrange(self.casek(number, "convs"), 0, -1)
            h, timeline, parties, convs = await pipe.execute()
        if not h:
            return None
        record = case_from_hash(h)
        record.timeline = [json.loads(entry) for entry in timeline]
        record.parties = [json.loads(party) for party in parties]
        record.conversations = list(convs)
        return record

    async def get_cases(self, numbers: list[str]) -> list[CaseRecord]:
        found: list[CaseRecord] = []
        for start in range(0, len(numbers), _BATCH):
            async with self._guard():
                pipe = self._redis.pipeline(transaction=False)
                for number in numbers[start : start + _BATCH]:
                    pipe.hgetall(self.casek(number))
                hashes = await pipe.execute()
            found.extend(case_from_hash(h) for h in hashes if h)
        return found

    async def case_numbers(
        self, *, index: str, newest_first: bool, low: int | None = None, high: int | None = None, limit: int = 200
    ) -> list[str]:
        kind, _, name = index.partition(":")
        key = self.ct(name, "cases") if kind == "contact" else self.k("cases", *index.split(":", 1))
        lo = "-inf" if low is None else str(low)
        hi = "+inf" if high is None else str(high)
        async with self._guard():
            if newest_first:
                return list(await self._redis.zrevrangebyscore(key, hi, lo, start=0, num=limit))
            return list(await self._redis.zrangebyscore(key, lo, hi, start=0, num=limit))

    async def party_conversation(self, plan: PartyConversationPlan) -> tuple[str, bool] | None:
        data = asdict(plan)
        data["now_ms"], data["party"] = str(plan.now_ms), str(plan.party)
        reply = await self._run("case_party", json.dumps(data, ensure_ascii=False))
        if reply[0] != "ok":
            return None
        return reply[1], reply[2] == "1"

    async def rate_hit(self, key: str, *, limit: int, window_ms: int) -> int:
        allowed, left = await self._run("rate", key, str(limit), str(max(1, window_ms)))
        return 0 if int(allowed) == 1 else max(1, int(left))
