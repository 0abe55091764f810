"""Cases in storage, both stores: numbers, guarded steps, the append-only timeline, party
conversations, indexes, shared rate limits, and nothing with a TTL."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis

from gateway.storage.base import Store
from gateway.storage.case_records import CaseOpenPlan, CaseStepPlan, PartyConversationPlan
from gateway.storage.redis_store import RedisStore
from tests.conftest import REDIS_URL
from tests.helpers import inbound, make_ingest

NOW = 1_760_000_000_000
DAY = 86_400_000


def open_plan(cid: str, *, stem: str = "CP-20251009", now: int = NOW, category: str = "double_charge") -> CaseOpenPlan:
    return CaseOpenPlan(
        stem=stem,
        conversation_id=cid,
        category=category,
        kind="complaint",
        summary="charged twice for order 42",
        queue="complaints",
        language="zh",
        by="alice",
        now_ms=now,
        first_update_due_ms=now + 2 * DAY,
        due_ms=now + 15 * DAY,
        max_due_ms=now + 30 * DAY,
        entry=json.dumps({"at": now, "kind": "opened", "by": "alice"}),
        timers=[
            ("case_overdue|{number}|resolve:" + str(now + 15 * DAY), now + 15 * DAY),
            ("case_notify|x|{number}:{seq}", now),
        ],
        payload=json.dumps({"type": "case.opened", "category": category}),
    )


async def a_conversation(store: Store, user: str = "cust-1") -> tuple[str, str]:
    result = await make_ingest(store).accept(inbound(sender=("api", user), text="我被重复扣款了"))
    return result.conversation_id, result.contact_id


async def test_a_case_opens_with_a_fresh_number_and_only_one_open_case_per_conversation(store: Store) -> None:
    cid, contact = await a_conversation(store)
    first = await store.case_open(open_plan(cid))
    assert first.ok and first.number == "CP-20251009-0001"
    again = await store.case_open(open_plan(cid))
    assert (again.ok, again.reason, again.number) == (False, "exists", "CP-20251009-0001")
    other, _ = await a_conversation(store, "cust-2")
    assert (await store.case_open(open_plan(other))).number == "CP-20251009-0002"
    assert (await store.case_open(open_plan(other, stem="CP-20251010"))).reason == "exists"
    third, _ = await a_conversation(store, "cust-3")
    assert (await store.case_open(open_plan(third, stem="CP-20251010"))).number == "CP-20251010-0001"
    assert (await store.case_open(open_plan("cv_missing"))).reason == "not_found"

    case = await store.get_case("CP-20251009-0001")
    assert case is not None and case.stage == "received" and case.contact_id == contact
    assert (case.conversation_id, case.channel, case.due_ms, case.eta_ms) == (
        cid,
        "api",
        NOW + 15 * DAY,
        NOW + 15 * DAY,
    )
    assert case.timeline == [{"seq": 1, "at": NOW, "kind": "opened", "by": "alice"}]
    assert case.conversations == [cid]
    conv = await store.get_conversation(cid)
    assert conv is not None and conv.attributes["case"] == "CP-20251009-0001"
    timers = {t.member for t in await store.timers_due(10**15, limit=50, lease_ms=1)}
    assert f"case_overdue|CP-20251009-0001|resolve:{NOW + 15 * DAY}" in timers
    assert "case_notify|x|CP-20251009-0001:1" in timers
    assert await store.case_numbers(index=f"contact:{contact}", newest_first=True) == ["CP-20251009-0001"]
    assert await store.case_numbers(index="open", newest_first=False) == [
        "CP-20251009-0001",
        "CP-20251009-0002",
        "CP-20251010-0001",
    ]


async def test_a_step_happens_only_as_the_case_was_seen_and_the_timeline_only_grows(store: Store) -> None:
    cid, _ = await a_conversation(store)
    number = (await store.case_open(open_plan(cid))).number or ""

    def step(**kw: object) -> CaseStepPlan:
        return CaseStepPlan(number=number, now_ms=NOW + 1000, **kw)  # type: ignore[arg-type]

    moved = await store.case_step(
        step(
            stages=["received", "investigating"],
            stage="investigating",
            set={"last_note": "查询中", "first_update_at": str(NOW + 1000)},
            entry=json.dumps({"at": NOW + 1000, "kind": "progress", "note": "查询中"}, ensure_ascii=False),
            timers=[("case_notify|c|{number}:{seq}", NOW + 1000)],
            event={"rk": "case.progress", "payload": json.dumps({"type": "case.progress"})},
        )
    )
    assert (moved.ok, moved.stage, moved.seq) == (True, "investigating", 2)
    refused = await store.case_step(step(stages=["received"], stage="waiting_third_party", entry="{}"))
    assert (refused.ok, refused.reason, refused.stage) == (False, "stage", "investigating")
    stale = await store.case_step(step(equals={"due_at": "1"}, entry='{"kind":"x"}'))
    assert (stale.ok, stale.reason) == (False, "stale")
    assert (await store.case_step(step(empty=["first_update_at"], entry='{"kind":"x"}'))).reason == "stale"
    once = await store.case_step(step(once="due_soon:1", entry='{"kind":"due_soon"}', incr={"extensions": 1}))
    assert once.ok and once.seq == 3
    assert (await store.case_step(step(once="due_soon:1", entry='{"kind":"due_soon"}'))).reason == "already"
    assert (await store.case_step(CaseStepPlan(number="CP-19990101-0001", now_ms=NOW))).reason == "not_found"
    party = await store.case_step(step(party=json.dumps({"kind": "merchant", "email": "m@shop.example"})))
    assert party.party == 1 and party.seq is None

    case = await store.get_case(number)
    assert case is not None
    assert [e["seq"] for e in case.timeline] == [1, 2, 3] and case.timeline[1]["note"] == "查询中"
    assert (case.stage, case.last_note, case.first_update_ms, case.extensions) == (
        "investigating",
        "查询中",
        NOW + 1000,
        1,
    )
    assert case.parties == [{"index": 1, "kind": "merchant", "email": "m@shop.example"}]
    assert await store.case_numbers(index="st:investigating", newest_first=True) == [number]
    assert await store.case_numbers(index="st:received", newest_first=True) == []

    resolved = await store.case_step(
        step(stages=["investigating"], stage="resolved", open_index="remove", resolved_index="add", entry="{}")
    )
    assert resolved.ok
    assert await store.case_numbers(index="open", newest_first=False) == []
    assert await store.case_numbers(index="resolved", newest_first=False) == [number]


async def test_a_party_gets_one_conversation_flagged_and_never_offered(store: Store) -> None:
    cid, contact = await a_conversation(store)
    number = (await store.case_open(open_plan(cid))).number or ""
    await store.case_step(CaseStepPlan(number=number, now_ms=NOW, party=json.dumps({"kind": "merchant"})))

    def plan(party: int = 1) -> PartyConversationPlan:
        return PartyConversationPlan(
            number=number,
            party=party,
            identity="email:refunds@shop.example",
            name="Shop",
            endpoint="support@support.example.com",
            subject=f"[{number}] case",
            new_contact_id="ct_party",
            new_conversation_id="cv_party",
            now_ms=NOW,
            attributes={"case_party": json.dumps({"number": number, "party": 1})},
            payload=json.dumps({"type": "conversation.opened"}),
        )

    assert await store.party_conversation(plan()) == ("cv_party", True)
    assert await store.party_conversation(plan()) == ("cv_party", False)
    assert await store.party_conversation(plan(party=2)) is None
    conv = await store.get_conversation("cv_party")
    assert conv is not None and conv.flags == ["case_party"] and conv.status == "pending" and conv.queue is None
    assert conv.channel == "email" and conv.contact_id == "ct_party" != contact
    merchant = await store.get_contact("ct_party")
    assert merchant is not None and [i.key for i in merchant.identities] == ["email:refunds@shop.example"]
    assert (await store.get_case(number)).party_conversations == {1: "cv_party"}  # type: ignore[union-attr]


async def test_rate_limits_are_shared_and_end_with_their_window(store: Store) -> None:
    assert [await store.rate_hit("ip:1.2.3.4", limit=2, window_ms=60_000) for _ in range(2)] == [0, 0]
    left = await store.rate_hit("ip:1.2.3.4", limit=2, window_ms=60_000)
    assert 0 < left <= 60_000
    assert await store.rate_hit("ip:5.6.7.8", limit=2, window_ms=60_000) == 0
    assert await store.rate_hit("short", limit=1, window_ms=50) == 0
    assert await store.rate_hit("short", limit=1, window_ms=50) > 0

    async def window_over() -> bool:
        return await store.rate_hit("short", limit=1, window_ms=50) == 0

    for _ in range(100):
        if await window_over():
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the window never ended")


async def test_merging_contacts_moves_their_cases(store: Store) -> None:
    cid, contact = await a_conversation(store, "one")
    _, other_contact = await a_conversation(store, "two")
    number = (await store.case_open(open_plan(cid))).number
    assert (await store.merge_contacts(other_contact, contact, by="ops", now_ms=NOW, payload="{}")).ok
    assert await store.case_numbers(index=f"contact:{other_contact}", newest_first=True) == [number]
    assert (await store.get_case(number or "")).contact_id == other_contact  # type: ignore[union-attr]


async def test_no_case_key_expires(redis_prefix: str) -> None:
    store = RedisStore(REDIS_URL, prefix=redis_prefix)
    try:
        cid, _ = await a_conversation(store)
        number = (await store.case_open(open_plan(cid))).number or ""
        await store.case_step(
            CaseStepPlan(number=number, now_ms=NOW, once="x", entry="{}", party=json.dumps({"kind": "merchant"}))
        )
        client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
        keys = [k async for k in client.scan_iter(match=f"{redis_prefix}:case*")]
        assert len(keys) >= 7  # case, timeline, parties, convs, once, indexes, the day's counter
        assert [k for k in keys if await client.ttl(k) != -1] == []
        await client.aclose()
    finally:
        await store.close()
