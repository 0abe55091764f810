"""Replies, delivery status, timers and reply-deadline alarms — both stores."""

from __future__ import annotations

import asyncio

from gateway.core.outbox_payloads import payload
from gateway.model import Channel, Direction, Message, Sender
from gateway.storage.base import Store
from tests.helpers import inbound, make_config, make_ingest
from tests.storage.test_ingest_contract import drain_outbox

T0 = 1_800_000_000.0


def reply_json(mid: str, text: str = "您好，已为您处理", direction: Direction = Direction.OUTBOUND) -> str:
    return Message(
        id=mid,
        direction=direction,
        channel=Channel.API,
        sender=Sender(kind="agent", id="alice"),
        text=text,
        received_at="2027-01-15T08:00:00Z",
    ).model_dump_json()


async def append(store: Store, cid: str, mid: str, *, now_ms: int, agent: str = "alice", kind: str = "outbound"):  # type: ignore[no-untyped-def]
    return await store.append_message(
        cid,
        message_id=mid,
        message_json=reply_json(mid, direction=Direction(kind)),
        now_ms=now_ms,
        kind=kind,
        agent=agent,
        payload=payload("message.outbound"),
        send=kind == "outbound",
        claim=kind == "outbound",
        assigned_payload=payload("conversation.assigned"),
    )


async def test_an_agent_reply_stops_the_clock_and_records_first_response(store: Store) -> None:
    clock = [T0]
    r = await make_ingest(store, clock=lambda: clock[0]).accept(inbound())
    reply_ms = int((T0 + 90) * 1000)
    assert (await append(store, r.conversation_id, "msg_r1", now_ms=reply_ms)).ok
    conv = await store.get_conversation(r.conversation_id)
    assert conv.sla_state == "none" and conv.reply_by is None and conv.awaiting_since is None
    assert conv.first_response_seconds == 90 and conv.assignee == "alice"  # replying claims it
    assert conv.message_count == 2 and conv.last_outbound_at.timestamp() == T0 + 90
    [reply] = [m for m in await store.get_messages(r.conversation_id) if m.direction == "outbound"]
    assert reply.status == "queued" and reply.conversation_id == r.conversation_id
    stats = await store.stats()
    assert stats["sla_met"] == 1 and stats["first_responses"] == 1 and stats["first_response_ms"] == 90_000
    due = await store.timers_due(reply_ms, limit=10, lease_ms=1000)
    assert [t.member for t in due] == [f"send|{r.conversation_id}|msg_r1"]


async def test_a_note_is_stored_but_neither_sent_nor_counted_as_a_reply(store: Store) -> None:
    r = await make_ingest(store).accept(inbound())
    await append(store, r.conversation_id, "msg_n1", now_ms=1, kind="note")
    conv = await store.get_conversation(r.conversation_id)
    assert conv.sla_state == "active" and conv.first_response_at is None and conv.assignee is None
    note = await store.get_message(r.conversation_id, "msg_n1")
    assert note.direction == "note" and note.status is None
    assert await store.timers_due(10**15, limit=10, lease_ms=1) != []  # only the sla timers
    assert all(not t.member.startswith("send|") for t in await store.timers_due(10**15, limit=10, lease_ms=1))


async def test_delivery_status_moves_forward_only(store: Store) -> None:
    r = await make_ingest(store).accept(inbound())
    await append(store, r.conversation_id, "msg_s1", now_ms=1)
    sent = await store.record_send(
        r.conversation_id, "msg_s1", outcome="sent", external_id="SM123", error="", channel="api",
        now_ms=2, status="sent", ext_ttl_ms=60_000, payload="{}",
    )  # fmt: skip
    assert sent.ok and sent.status == "sent"

    async def report(status: str, error: str = "") -> str | None:
        out = await store.apply_status(
            "api", "SM123", status=status, error=error, now_ms=3, payload="{}", early_ttl_ms=1000
        )
        return out.reason

    assert await report("delivered") == "ok"
    assert await report("sent") == "ignored"  # late and older
    assert await report("failed", "30003") == "ignored"  # cannot undo a delivery
    assert await report("read") == "ok"
    message = await store.get_message(r.conversation_id, "msg_s1")
    assert message.status == "read" and message.external_id == "SM123" and message.attempts == 1
    assert (
        await store.apply_status("api", "nobody", status="sent", error="", now_ms=1, payload="{}", early_ttl_ms=1000)
    ).reason == "unknown"
    statuses = [p["body"]["status"] for p in await drain_outbox(store) if p["rk"] == "message.status"]
    assert statuses == ["sent", "delivered", "read"]


async def test_failed_is_final_and_keeps_the_reason(store: Store) -> None:
    r = await make_ingest(store).accept(inbound())
    await append(store, r.conversation_id, "msg_f1", now_ms=1)
    await store.record_send(
        r.conversation_id, "msg_f1", outcome="sent", external_id="SM9", error="", channel="sms",
        now_ms=2, status="sent", ext_ttl_ms=60_000, payload="{}",
    )  # fmt: skip
    await store.apply_status(
        "sms", "SM9", status="undelivered", error="30005 unknown handset", now_ms=3, payload="{}", early_ttl_ms=1
    )
    await store.apply_status("sms", "SM9", status="delivered", error="", now_ms=4, payload="{}", early_ttl_ms=1)
    message = await store.get_message(r.conversation_id, "msg_f1")
    assert message.status == "undelivered" and message.error == "30005 unknown handset"


async def test_a_report_that_beats_the_provider_id_is_applied_when_it_arrives(store: Store) -> None:
    r = await make_ingest(store).accept(inbound())
    await append(store, r.conversation_id, "msg_e1", now_ms=1)
    early = await store.apply_status(
        "sms", "SMfast", status="delivered", error="", now_ms=2, payload="{}", early_ttl_ms=60_000
    )
    assert early.reason == "unknown"
    await store.record_send(
        r.conversation_id, "msg_e1", outcome="sent", external_id="SMfast", error="", channel="sms",
        now_ms=3, status="queued", ext_ttl_ms=60_000, payload="{}",
    )  # fmt: skip
    assert (await store.get_message(r.conversation_id, "msg_e1")).status == "delivered"


async def test_retry_keeps_queued_and_failure_records_the_error(store: Store) -> None:
    r = await make_ingest(store).accept(inbound())
    await append(store, r.conversation_id, "msg_x1", now_ms=1)
    await store.record_send(
        r.conversation_id, "msg_x1", outcome="retry", external_id="", error="HTTP 503", channel="api",
        now_ms=2, status="sent", ext_ttl_ms=1, payload="{}",
    )  # fmt: skip
    message = await store.get_message(r.conversation_id, "msg_x1")
    assert message.status == "queued" and message.attempts == 1 and message.error == "HTTP 503"
    await store.record_send(
        r.conversation_id, "msg_x1", outcome="failed", external_id="", error="HTTP 400: bad number",
        channel="api", now_ms=3, status="sent", ext_ttl_ms=1, payload="{}",
    )  # fmt: skip
    message = await store.get_message(r.conversation_id, "msg_x1")
    assert message.status == "failed" and message.attempts == 2 and message.error == "HTTP 400: bad number"


async def test_due_timers_are_leased_to_one_scanner_at_a_time(store: Store) -> None:
    await store.timer_set("x|cv_1|a", 1000)
    await store.timer_set("x|cv_2|b", 2000)
    await store.timer_set("x|cv_3|c", 9000)
    first, second = await asyncio.gather(
        store.timers_due(5000, limit=10, lease_ms=30_000), store.timers_due(5000, limit=10, lease_ms=30_000)
    )
    got = sorted(t.member for t in first + second)
    assert got == ["x|cv_1|a", "x|cv_2|b"]  # each once, across both scanners
    assert first[0].conversation_id in ("cv_1", "cv_2") if first else True
    assert await store.timers_due(6000, limit=10, lease_ms=30_000) == []
    await store.timer_done("x|cv_1|a")
    expired = await store.timers_due(40_000, limit=10, lease_ms=30_000)  # lease over, not done: back
    assert sorted(t.member for t in expired) == ["x|cv_2|b", "x|cv_3|c"]
    assert await store.timer_count() == 2


async def test_warning_and_breach_fire_once_per_deadline(store: Store) -> None:
    config = make_config(reply_tracking={"default": "100s", "warn_at": 0.5})
    r = await make_ingest(store, config, clock=lambda: T0).accept(inbound())
    due = {t.kind: t for t in await store.timers_due(int((T0 + 200) * 1000), limit=10, lease_ms=1)}
    assert due["sla_warn"].due_ms == int((T0 + 50) * 1000) and due["sla_breach"].due_ms == int((T0 + 100) * 1000)
    seq = due["sla_warn"].argument

    async def fire(kind: str) -> str:
        out = await store.sla_fire(
            kind,
            r.conversation_id,
            seq,
            now_ms=1,
            payload=payload(f"sla.{kind}"),
            queue="vip",
            priority=9,
            offer_payload="{}",
        )
        return out.reason

    assert [await fire("warn"), await fire("warn")] == ["ok", "noop"]
    assert (await store.get_conversation(r.conversation_id)).sla_state == "warning"
    assert [await fire("breach"), await fire("breach")] == ["ok", "noop"]
    conv = await store.get_conversation(r.conversation_id)
    assert conv.sla_state == "breached" and conv.sla_breaches == 1 and conv.queue == "vip" and conv.priority == 9
    published = await drain_outbox(store)
    assert [p["rk"] for p in published].count("sla.warning") == 1
    assert [p["rk"] for p in published].count("sla.breached") == 1
    [breach_offer] = [p for p in published if p["rk"] == "vip"]
    assert breach_offer["body"]["reason"] == "sla_breach"
    overdue = await store.awaiting_between(0, int((T0 + 200) * 1000), limit=10)
    assert [c.id for c in overdue] == [r.conversation_id]


async def test_an_answered_deadline_never_alarms(store: Store) -> None:
    r = await make_ingest(store, clock=lambda: T0).accept(inbound())
    seq = next(t for t in await store.timers_due(10**15, limit=10, lease_ms=1) if t.kind == "sla_warn").argument
    await append(store, r.conversation_id, "msg_a1", now_ms=int(T0 * 1000) + 5)
    for kind in ("warn", "breach"):
        out = await store.sla_fire(
            kind, r.conversation_id, seq, now_ms=1, payload="{}", queue="vip", priority=9, offer_payload="{}"
        )
        assert out.reason == "noop"
    assert (await store.get_conversation(r.conversation_id)).sla_state == "none"


async def test_a_new_customer_message_after_a_reply_arms_a_new_deadline(store: Store) -> None:
    clock = [T0]
    ingest = make_ingest(store, make_config(reply_tracking={"default": "1h"}), clock=lambda: clock[0])
    r = await ingest.accept(inbound())
    await append(store, r.conversation_id, "msg_b1", now_ms=int((T0 + 10) * 1000))
    clock[0] += 100
    await ingest.accept(inbound(text="another question"))
    conv = await store.get_conversation(r.conversation_id)
    assert conv.sla_state == "active" and conv.reply_by.timestamp() == T0 + 100 + 3600
    seqs = {t.argument for t in await store.timers_due(10**15, limit=10, lease_ms=1) if t.kind == "sla_breach"}
    assert seqs == {"1", "2"}  # the first one is stale and will be a no-op


async def test_window_closing_announces_and_raises_priority_once_per_window(store: Store) -> None:
    r = await make_ingest(store, clock=lambda: T0).accept(
        inbound(channel=Channel.WHATSAPP, sender=("phone", "+8613800138000"))
    )
    [timer] = [t for t in await store.timers_due(10**15, limit=10, lease_ms=1) if t.kind == "window_closing"]
    assert timer.due_ms == int((T0 + 23 * 3600) * 1000)
    out = await store.window_closing(
        r.conversation_id, timer.argument, now_ms=1, payload=payload("window.closing"), priority=6
    )
    assert out.ok and (await store.get_conversation(r.conversation_id)).priority == 6
    moved = await store.window_closing(r.conversation_id, "123", now_ms=1, payload="{}", priority=7)
    assert moved.reason == "noop"
    [event] = [p for p in await drain_outbox(store) if p["rk"] == "window.closing"]
    assert event["body"]["window_expires_at"].startswith("2027-01-16")


async def test_the_window_closing_lead_is_configurable(store: Store) -> None:
    from gateway.core.ingest import Ingest
    from gateway.routing.router import SingleQueueRouter

    router = SingleQueueRouter()
    ingest = Ingest(store=store, router=lambda: router, config=make_config(), clock=lambda: T0, window_warning=600)
    await ingest.accept(inbound(channel=Channel.WHATSAPP, sender=("phone", "+8613800138000")))
    [timer] = [t for t in await store.timers_due(10**15, limit=10, lease_ms=1) if t.kind == "window_closing"]
    assert timer.due_ms == int((T0 + 86400 - 600) * 1000)


async def test_our_sent_email_message_id_joins_the_thread(store: Store) -> None:
    ingest = make_ingest(store)
    r = await ingest.accept(
        inbound(channel=Channel.EMAIL, sender=("email", "li@example.com"), own_thread_ids=["<c1@example.com>"])
    )
    await append(store, r.conversation_id, "msg_m1", now_ms=1)
    await store.record_send(
        r.conversation_id, "msg_m1", outcome="sent", external_id="<ours-1@support.example.com>", error="",
        channel="email", now_ms=2, status="sent", ext_ttl_ms=60_000, payload="{}",
    )  # fmt: skip
    assert await store.thread_ids(r.conversation_id) == ["<c1@example.com>", "<ours-1@support.example.com>"]
    answer = await ingest.accept(
        inbound(channel=Channel.EMAIL, sender=("email", "li@example.com"), thread_refs=["<ours-1@support.example.com>"])
    )
    assert answer.conversation_id == r.conversation_id


async def _breach_seq(store: Store, cid: str) -> set[str]:
    return {t.argument for t in await store.timers_due(10**15, limit=50, lease_ms=1) if t.kind == "sla_breach"}


async def test_a_reply_that_fails_gives_its_deadline_back(store: Store) -> None:
    ingest = make_ingest(store, make_config(reply_tracking={"default": "1h"}), clock=lambda: T0)
    r = await ingest.accept(inbound())
    cid = r.conversation_id
    await append(store, cid, "msg_f1", now_ms=int((T0 + 60) * 1000))
    assert (await store.get_conversation(cid)).reply_by is None
    assert (await store.stats())["sla_met"] == 1
    failed = await store.record_send(
        cid, "msg_f1", outcome="failed", external_id="", error="21610 unsubscribed", channel="api",
        now_ms=int((T0 + 120) * 1000), status="failed", ext_ttl_ms=60_000, payload="{}",
    )  # fmt: skip
    assert failed.status == "failed"
    conv = await store.get_conversation(cid)
    # The customer got nothing: the same deadline as before the reply, from the same message.
    assert conv.sla_state == "active" and conv.reply_by.timestamp() == T0 + 3600
    assert conv.awaiting_since.timestamp() == T0
    stats = await store.stats()
    assert stats["sla_met"] == 0 and stats["replies"] == 0 and stats["reply_ms"] == 0
    assert stats["first_responses"] == 1  # the agent did respond first at that time
    newest = max(await _breach_seq(store, cid), key=int)
    out = await store.sla_fire(
        "breach", cid, newest, now_ms=int((T0 + 3601) * 1000), payload="{}", queue="general", priority=5,
        offer_payload="{}",
    )  # fmt: skip
    assert out.ok and (await store.get_conversation(cid)).sla_state == "breached"
    # A second failure report for the same reply changes nothing more.
    again = await store.record_send(
        cid, "msg_f1", outcome="failed", external_id="", error="again", channel="api",
        now_ms=int((T0 + 3700) * 1000), status="failed", ext_ttl_ms=60_000, payload="{}",
    )  # fmt: skip
    assert again.status == "failed" and (await store.stats())["replies"] == 0


async def test_an_undelivered_report_gives_the_deadline_back_unless_resolved(store: Store) -> None:
    ingest = make_ingest(store, make_config(reply_tracking={"default": "1h"}), clock=lambda: T0)
    cid = (await ingest.accept(inbound())).conversation_id
    await append(store, cid, "msg_u1", now_ms=int((T0 + 10) * 1000))
    await store.record_send(
        cid, "msg_u1", outcome="sent", external_id="SMu1", error="", channel="sms",
        now_ms=int((T0 + 11) * 1000), status="sent", ext_ttl_ms=60_000, payload="{}",
    )  # fmt: skip
    out = await store.apply_status(
        "sms", "SMu1", status="undelivered", error="30003 unreachable", now_ms=int((T0 + 30) * 1000),
        payload="{}", early_ttl_ms=60_000,
    )  # fmt: skip
    assert out.ok
    conv = await store.get_conversation(cid)
    assert conv.sla_state == "active" and conv.reply_by.timestamp() == T0 + 3600

    # Resolved with the reply: a later failure does not reopen the clock.
    other = (await ingest.accept(inbound(sender=("api", "user-2")))).conversation_id
    await append(store, other, "msg_u2", now_ms=int((T0 + 10) * 1000))
    assert (await store.resolve(other, by="alice", now_ms=int((T0 + 20) * 1000), payload="{}")).ok
    await store.record_send(
        other, "msg_u2", outcome="failed", external_id="", error="x", channel="api",
        now_ms=int((T0 + 30) * 1000), status="failed", ext_ttl_ms=60_000, payload="{}",
    )  # fmt: skip
    assert (await store.get_conversation(other)).reply_by is None


async def test_a_failed_reply_past_its_deadline_breaches_at_once_without_a_late_warning(store: Store) -> None:
    ingest = make_ingest(store, make_config(reply_tracking={"default": "1h"}), clock=lambda: T0)
    cid = (await ingest.accept(inbound())).conversation_id
    await append(store, cid, "msg_p1", now_ms=int((T0 + 3500) * 1000))
    await store.record_send(
        cid, "msg_p1", outcome="failed", external_id="", error="x", channel="api",
        now_ms=int((T0 + 4000) * 1000), status="failed", ext_ttl_ms=60_000, payload="{}",
    )  # fmt: skip
    conv = await store.get_conversation(cid)
    assert conv.sla_state == "warning" and conv.reply_by.timestamp() == T0 + 3600
    due = await store.timers_due(int((T0 + 4000) * 1000), limit=50, lease_ms=1)
    newest = max((t for t in due if t.kind == "sla_breach"), key=lambda t: int(t.argument))
    assert not [t for t in due if t.kind == "sla_warn" and t.argument == newest.argument]
    assert newest.due_ms == int((T0 + 3600) * 1000)


async def test_a_second_agent_cannot_reply_to_a_conversation_another_holds(store: Store) -> None:
    cid = (await make_ingest(store).accept(inbound())).conversation_id
    results = await asyncio.gather(
        append(store, cid, "msg_c1", now_ms=1, agent="alice"), append(store, cid, "msg_c2", now_ms=1, agent="bob")
    )
    assert sorted(r.reason for r in results) == ["not_assignee", "ok"]
    winner = next(r for r in results if r.ok)
    loser = next(r for r in results if not r.ok)
    conv = await store.get_conversation(cid)
    assert loser.assignee == conv.assignee
    assert [m.id for m in await store.get_messages(cid) if m.direction == "outbound"] == [winner.message_id]
    # The assignee goes on replying; an internal note by anyone is not a claim.
    assert (await append(store, cid, "msg_c3", now_ms=2, agent=conv.assignee)).ok
    other = "bob" if conv.assignee == "alice" else "alice"
    assert (await append(store, cid, "msg_c4", now_ms=3, agent=other, kind="note")).ok


async def test_a_reply_that_would_claim_respects_the_agents_capacity(store: Store) -> None:
    ingest = make_ingest(store)
    first = (await ingest.accept(inbound(sender=("api", "cap-1")))).conversation_id
    second = (await ingest.accept(inbound(sender=("api", "cap-2")))).conversation_id

    async def reply(cid: str, mid: str) -> str:
        out = await store.append_message(
            cid, message_id=mid, message_json=reply_json(mid), now_ms=5, kind="outbound", agent="alice",
            payload="{}", send=True, claim=True, assigned_payload="{}", capacity=1,
        )  # fmt: skip
        return out.reason

    assert await reply(first, "msg_k1") == "ok"
    assert await reply(second, "msg_k2") == "capacity"
    assert (await store.get_conversation(second)).assignee is None
    assert await store.get_message(second, "msg_k2") is None  # refused before anything was stored
    assert await reply(first, "msg_k3") == "ok"  # her own conversation: no new claim


async def test_a_breach_closed_without_an_answer_counts_against_attainment(store: Store) -> None:
    from gateway.core.reply_tracking import sla_attainment

    ingest = make_ingest(store, make_config(reply_tracking={"default": "1h"}), clock=lambda: T0)
    answered = (await ingest.accept(inbound(sender=("api", "att-1")))).conversation_id
    await append(store, answered, "msg_t1", now_ms=int((T0 + 60) * 1000))
    dropped = (await ingest.accept(inbound(sender=("api", "att-2")))).conversation_id
    seq = max(await _breach_seq(store, dropped), key=int)
    fired = await store.sla_fire(
        "breach", dropped, seq, now_ms=int((T0 + 3601) * 1000), payload="{}", queue="general", priority=5,
        offer_payload="{}",
    )  # fmt: skip
    assert fired.ok
    assert sla_attainment(await store.stats()) == 1.0  # the breach has not ended yet
    assert (await store.resolve(dropped, by="ops", now_ms=int((T0 + 4000) * 1000), payload="{}")).ok
    stats = await store.stats()
    assert stats["sla_unanswered"] == 1 and sla_attainment(stats) == 0.5


async def test_a_warning_raises_a_waiting_conversations_priority_so_next_serves_it_first(store: Store) -> None:
    clock = [T0]
    ingest = make_ingest(store, make_config(reply_tracking={"default": "1h"}), clock=lambda: clock[0])
    older = (await ingest.accept(inbound(sender=("api", "w-older")))).conversation_id
    clock[0] += 60
    warned = (await ingest.accept(inbound(sender=("api", "w-warned")))).conversation_id
    before = (await store.get_conversation(warned)).priority
    seq = max(await _breach_seq(store, warned), key=int)
    out = await store.sla_fire(
        "warn", warned, seq, now_ms=int((T0 + 3000) * 1000), payload="{}", queue="", priority=1, offer_payload=""
    )
    conv = await store.get_conversation(warned)
    assert out.ok and conv.priority == before + 1 and conv.routing_version == 1  # no new offer
    first = await store.claim_next("alice", [conv.queue], capacity=0, now_ms=int((T0 + 3001) * 1000), payload="{}")
    assert first.conversation_id == warned
    second = await store.claim_next("alice", [conv.queue], capacity=0, now_ms=int((T0 + 3002) * 1000), payload="{}")
    assert second.conversation_id == older


async def test_pending_pauses_the_deadline_and_the_next_message_resumes_what_was_left(store: Store) -> None:
    clock = [T0]
    ingest = make_ingest(store, make_config(reply_tracking={"default": "1h", "warn_at": 0.8}), clock=lambda: clock[0])
    cid = (await ingest.accept(inbound(sender=("api", "p-1")))).conversation_id
    assert (await store.set_pending(cid, now_ms=int((T0 + 600) * 1000))).ok  # 50 min left, warning in 38
    paused = await store.get_conversation(cid)
    assert paused.reply_by is None and paused.sla_state == "none"
    clock[0] = T0 + 10_000  # the customer answers hours later
    await ingest.accept(inbound(sender=("api", "p-1"), text="here is the receipt"))
    conv = await store.get_conversation(cid)
    assert conv.sla_state == "active" and conv.reply_by.timestamp() == T0 + 10_000 + 3000
    due = await store.timers_due(10**15, limit=50, lease_ms=1)
    newest = max(int(t.argument) for t in due if t.kind == "sla_breach")
    [warn] = [t for t in due if t.kind == "sla_warn" and int(t.argument) == newest]
    assert warn.due_ms == int((T0 + 10_000 + 2280) * 1000)


async def test_a_pause_after_the_warning_does_not_warn_twice_and_an_answer_ends_the_pause(store: Store) -> None:
    clock = [T0]
    ingest = make_ingest(store, make_config(reply_tracking={"default": "1h", "warn_at": 0.5}), clock=lambda: clock[0])
    cid = (await ingest.accept(inbound(sender=("api", "p-2")))).conversation_id
    seq = max(await _breach_seq(store, cid), key=int)
    fired = await store.sla_fire(
        "warn", cid, seq, now_ms=int((T0 + 1800) * 1000), payload="{}", queue="", priority=0, offer_payload=""
    )
    assert fired.ok
    await store.set_pending(cid, now_ms=int((T0 + 2400) * 1000))  # 20 min left, already warned
    clock[0] = T0 + 5000
    await ingest.accept(inbound(sender=("api", "p-2"), text="still broken"))
    conv = await store.get_conversation(cid)
    assert conv.sla_state == "warning" and conv.reply_by.timestamp() == T0 + 5000 + 1200
    newest = max(await _breach_seq(store, cid), key=int)
    due = await store.timers_due(10**15, limit=50, lease_ms=1)
    assert not [t for t in due if t.kind == "sla_warn" and t.argument == newest]
    # Answered while pending: nothing is left to resume; the next message gets a full deadline.
    await store.set_pending(cid, now_ms=int((T0 + 5100) * 1000))
    await append(store, cid, "msg_pp1", now_ms=int((T0 + 5200) * 1000))
    clock[0] = T0 + 9000
    await ingest.accept(inbound(sender=("api", "p-2"), text="thanks, one more thing"))
    assert (await store.get_conversation(cid)).reply_by.timestamp() == T0 + 9000 + 3600


async def test_a_breached_deadline_is_not_paused(store: Store) -> None:
    clock = [T0]
    ingest = make_ingest(store, make_config(reply_tracking={"default": "1h"}), clock=lambda: clock[0])
    cid = (await ingest.accept(inbound(sender=("api", "p-3")))).conversation_id
    seq = max(await _breach_seq(store, cid), key=int)
    await store.sla_fire(
        "breach", cid, seq, now_ms=int((T0 + 3601) * 1000), payload="{}", queue="", priority=0, offer_payload=""
    )
    await store.set_pending(cid, now_ms=int((T0 + 4000) * 1000))
    assert (await store.stats())["sla_unanswered"] == 1
    clock[0] = T0 + 8000
    await ingest.accept(inbound(sender=("api", "p-3"), text="hello?"))
    assert (await store.get_conversation(cid)).reply_by.timestamp() == T0 + 8000 + 3600
