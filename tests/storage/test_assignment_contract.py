"""Claims, routing changes, resolve/pending/reopen and contact merge — both stores."""

from __future__ import annotations

import json
import time

from gateway.core.outbox_payloads import offer_payload, payload
from gateway.model import Channel, Identity, IdentityKind, RouteTarget, RoutingContext, RoutingDecision
from gateway.storage.base import Store
from tests.helpers import inbound, make_config, make_ingest
from tests.storage.test_ingest_contract import drain_outbox

P = payload("conversation.assigned")
OFFER = offer_payload(channel="api", skills=[], rule=None, preview="")


class PriorityRouter:
    """Priority from the text ('p7 ...'), targets from 'esc' in the text."""

    version = "test"

    def decide(self, ctx: RoutingContext) -> RoutingDecision:
        priority = int(ctx.text[1]) if ctx.text[:1] == "p" and ctx.text[1:2].isdigit() else 3
        targets = [RouteTarget(queue="general", priority=priority)]
        if "esc" in ctx.text:
            targets = [
                RouteTarget(queue="general", priority=priority, timeout=60),
                RouteTarget(queue="vip", priority=8),
            ]
        return RoutingDecision(queue="general", priority=priority, targets=targets, rules_version="test")

    def queues(self) -> list[str]:
        return ["general", "vip"]


def ingest_with(store: Store, clock=None, **config):  # type: ignore[no-untyped-def]
    from gateway.core.ingest import Ingest

    router = PriorityRouter()
    kwargs = {"clock": clock} if clock else {}
    return Ingest(store=store, router=lambda: router, config=make_config(**config), **kwargs)


async def test_claim_assigns_once_and_refuses_stale_and_taken(store: Store) -> None:
    r = await make_ingest(store).accept(inbound())
    ok = await store.claim(r.conversation_id, "alice", version=1, capacity=0, now_ms=1, payload=P)
    assert ok.ok and ok.routing_version == 1
    again = await store.claim(r.conversation_id, "alice", version=1, capacity=0, now_ms=2, payload=P)
    assert again.ok and again.reason == "already"
    taken = await store.claim(r.conversation_id, "bob", version=1, capacity=0, now_ms=3, payload=P)
    assert not taken.ok and taken.reason == "taken" and taken.assignee == "alice"
    r2 = await make_ingest(store).accept(inbound(sender=("api", "other")))
    stale = await store.claim(r2.conversation_id, "bob", version=7, capacity=0, now_ms=4, payload=P)
    assert not stale.ok and stale.reason == "stale" and stale.routing_version == 1
    missing = await store.claim("cv_nope", "bob", version=None, capacity=0, now_ms=5, payload=P)
    assert missing.reason == "not_found"
    conv = await store.get_conversation(r.conversation_id)
    assert conv.assignee == "alice" and conv.waiting_since is None and conv.claimed_at is not None
    assert await store.active_conversations("alice") == {r.conversation_id}
    assert (await store.queue_stats(["general"]))["general"].waiting == 1


async def test_capacity_is_respected(store: Store) -> None:
    ingest = make_ingest(store)
    a = await ingest.accept(inbound(sender=("api", "a")))
    b = await ingest.accept(inbound(sender=("api", "b")))
    assert (await store.claim(a.conversation_id, "alice", version=None, capacity=1, now_ms=1, payload=P)).ok
    full = await store.claim(b.conversation_id, "alice", version=None, capacity=1, now_ms=2, payload=P)
    assert full.reason == "capacity"
    assert (await store.claim_next("alice", ["general"], capacity=1, now_ms=3, payload=P)).reason == "capacity"


async def test_next_takes_higher_priority_then_nearer_deadline_then_longer_wait(store: Store) -> None:
    clock = [1_800_000_000.0]
    ingest = ingest_with(
        store, clock=lambda: clock[0], reply_tracking={"default": "24h", "channels": {"webchat": "10m"}}
    )
    low = await ingest.accept(inbound(sender=("api", "low"), text="p2 low"))
    clock[0] += 1
    api = await ingest.accept(inbound(sender=("api", "api"), text="p5 api"))
    clock[0] += 1
    chat = await ingest.accept(inbound(channel=Channel.WEBCHAT, sender=("webchat", "v1"), text="p5 chat"))
    clock[0] += 1
    high = await ingest.accept(inbound(sender=("api", "high"), text="p7 urgent"))
    order = []
    for _ in range(4):
        got = await store.claim_next("alice", ["general", "vip"], capacity=0, now_ms=2, payload=P)
        order.append(got.conversation_id)
    # p7 first; among p5 the web chat (10 min target) is nearer its deadline than the API (24 h).
    assert order == [high.conversation_id, chat.conversation_id, api.conversation_id, low.conversation_id]
    assert (await store.claim_next("alice", ["general"], capacity=0, now_ms=3, payload=P)).reason == "empty"


async def test_reroute_makes_a_new_version_and_old_offers_stale(store: Store) -> None:
    r = await ingest_with(store).accept(inbound(text="esc please"))
    await drain_outbox(store)
    moved = await store.reroute(
        r.conversation_id,
        expected_version=1,
        only_unassigned=True,
        queue="vip",
        priority=8,
        reason="escalated",
        now_ms=10**13,
        decision_json=None,
        target_index=1,
        escalate_after_ms=0,
        payload=OFFER,
        keep_wait=True,
    )
    assert moved.ok and moved.routing_version == 2
    conv = await store.get_conversation(r.conversation_id)
    assert (conv.queue, conv.priority, conv.target_index, conv.routing_version) == ("vip", 8, 1, 2)
    assert conv.waiting_since.timestamp() < 10**10  # the wait start was kept
    published = await drain_outbox(store)
    [offer] = [p for p in published if p["rk"] == "vip"]
    assert offer["body"]["reason"] == "escalated" and offer["message_id"] == f"offer:{r.conversation_id}:2"
    [event] = [p["body"] for p in published if p["rk"] == "conversation.escalated"]
    assert (event["queue"], event["previous_queue"], event["routing_version"]) == ("vip", "general", 2)
    stats = await store.queue_stats(["general", "vip"])
    assert stats["general"].waiting == 0 and stats["vip"].waiting == 1
    stale = await store.claim(r.conversation_id, "alice", version=1, capacity=0, now_ms=1, payload=P)
    assert stale.reason == "stale"
    again = await store.reroute(
        r.conversation_id,
        expected_version=1,
        only_unassigned=True,
        queue="vip",
        priority=8,
        reason="escalated",
        now_ms=1,
        decision_json=None,
        target_index=1,
        escalate_after_ms=0,
        payload=OFFER,
        keep_wait=True,
    )
    assert again.reason == "stale"


async def test_transfer_of_a_claimed_conversation_frees_the_agent(store: Store) -> None:
    r = await make_ingest(store).accept(inbound())
    await store.claim(r.conversation_id, "alice", version=1, capacity=0, now_ms=1, payload=P)
    moved = await store.reroute(
        r.conversation_id,
        expected_version=None,
        only_unassigned=False,
        queue="vip",
        priority=5,
        reason="transferred",
        now_ms=2,
        decision_json=None,
        target_index=0,
        escalate_after_ms=0,
        payload=OFFER,
        keep_wait=False,
    )
    assert moved.ok
    conv = await store.get_conversation(r.conversation_id)
    assert conv.assignee is None and conv.queue == "vip"
    assert await store.active_conversations("alice") == set()
    [event] = [p["body"] for p in await drain_outbox(store) if p["rk"] == "conversation.transferred"]
    assert (
        event["previous_assignee"] == "alice"
        and event["queue"] == "vip"
        and event["type"] == "conversation.transferred"
    )


async def test_resolve_then_reopen_within_the_window_else_new(store: Store) -> None:
    clock = [1_800_000_000.0]
    ingest = make_ingest(store, make_config(routing={"rules": None, "reopen_window": "1h"}), clock=lambda: clock[0])
    r = await ingest.accept(inbound())
    await store.claim(r.conversation_id, "alice", version=1, capacity=0, now_ms=1, payload=P)
    done = await store.resolve(r.conversation_id, by="alice", now_ms=int(clock[0] * 1000), payload="{}")
    assert done.ok
    assert (await store.resolve(r.conversation_id, by="alice", now_ms=1, payload="{}")).reason == "already"
    conv = await store.get_conversation(r.conversation_id)
    assert conv.status == "resolved" and conv.sla_state == "none" and conv.reply_by is None
    assert await store.active_conversations("alice") == set()
    await drain_outbox(store)
    clock[0] += 600
    back = await ingest.accept(inbound(text="还是不行"))
    assert back.conversation_id == r.conversation_id and back.conversation_state == "reopened"
    conv = await store.get_conversation(r.conversation_id)
    assert conv.status == "open" and conv.assignee is None and conv.routing_version == 2 and conv.reply_by
    offers = [p for p in await drain_outbox(store) if p["rk"] == "general"]
    assert [o["body"]["reason"] for o in offers] == ["reopened"]
    await store.resolve(r.conversation_id, by="alice", now_ms=int(clock[0] * 1000), payload="{}")
    clock[0] += 7200
    fresh = await ingest.accept(inbound(text="new problem"))
    assert fresh.conversation_id != r.conversation_id and fresh.conversation_state == "new"


async def test_resolving_before_any_claim_counts_as_abandoned(store: Store) -> None:
    r = await make_ingest(store).accept(inbound())
    await store.resolve(r.conversation_id, by="ops", now_ms=1, payload="{}")
    stats = await store.stats()
    assert stats["offered"] == 1 and stats["abandoned"] == 1
    assert (await store.queue_stats(["general"]))["general"].waiting == 0


async def test_pending_stops_the_clock_until_the_customer_writes(store: Store) -> None:
    ingest = make_ingest(store)
    r = await ingest.accept(inbound())
    await store.claim(r.conversation_id, "alice", version=1, capacity=0, now_ms=1, payload=P)
    assert (await store.set_pending(r.conversation_id, now_ms=2)).ok
    conv = await store.get_conversation(r.conversation_id)
    assert conv.status == "pending" and conv.reply_by is None and conv.sla_state == "none"
    assert await store.awaiting_between(0, 2**50, limit=10) == []
    await ingest.accept(inbound(text="here is the screenshot"))
    conv = await store.get_conversation(r.conversation_id)
    assert conv.status == "open" and conv.reply_by is not None and conv.assignee == "alice"
    assert [c.id for c in await store.awaiting_between(0, 2**50, limit=10)] == [r.conversation_id]


async def test_merge_moves_identities_conversations_and_attributes(store: Store) -> None:
    ingest = make_ingest(store)
    sms = await ingest.accept(
        inbound(channel=Channel.SMS, sender=("phone", "+8613800138000"), contact_attributes={"tier": "vip"})
    )
    mail = await ingest.accept(
        inbound(
            channel=Channel.EMAIL,
            sender=("email", "li@example.com"),
            contact_attributes={"tier": "basic", "lang": "zh"},
        )
    )
    assert sms.contact_id != mail.contact_id
    merged = await store.merge_contacts(sms.contact_id, mail.contact_id, by="alice", now_ms=5, payload="{}")
    assert merged.ok
    keep = await store.get_contact(sms.contact_id)
    assert {i.key for i in keep.identities} == {"phone:+8613800138000", "email:li@example.com"}
    assert keep.attributes == {"tier": "vip", "lang": "zh"}
    gone = await store.get_contact(mail.contact_id)
    assert gone.merged_into == sms.contact_id and gone.identities == []
    assert (await store.get_conversation(mail.conversation_id)).contact_id == sms.contact_id
    convs = await store.list_conversations(contact_id=sms.contact_id)
    assert {c.id for c in convs.conversations} == {sms.conversation_id, mail.conversation_id}
    later = await ingest.accept(inbound(channel=Channel.SMS, sender=("phone", "+8613800138000")))
    assert later.contact_id == sms.contact_id and later.conversation_id == sms.conversation_id
    api = await ingest.accept(
        inbound(sender=("api", "x"), extra_identities=[Identity(kind=IdentityKind.EMAIL, value="li@example.com")])
    )
    assert api.contact_id == sms.contact_id
    events = [p for p in await drain_outbox(store) if p["rk"] == "contact.merged"]
    assert events[0]["body"]["merged_contact_id"] == mail.contact_id
    assert (
        await store.merge_contacts(sms.contact_id, mail.contact_id, by="a", now_ms=6, payload="{}")
    ).reason == "already"
    assert (await store.merge_contacts(sms.contact_id, sms.contact_id, by="a", now_ms=6, payload="{}")).reason == "same"


async def test_event_bodies_carry_ids_and_iso_times(store: Store) -> None:
    r = await make_ingest(store).accept(inbound())
    await store.claim(r.conversation_id, "alice", version=1, capacity=0, now_ms=1_800_000_000_000, payload=P)
    [assigned] = [p for p in await drain_outbox(store) if p["rk"] == "conversation.assigned"]
    body = assigned["body"]
    assert body["type"] == "conversation.assigned" and body["agent"] == "alice" and body["routing_version"] == 1
    assert body["occurred_at"] == "2027-01-15T08:00:00Z" and isinstance(body["waited_ms"], int)
    assert json.dumps(body)


async def test_a_message_that_needs_no_answer_does_not_reopen_or_wake(store: Store) -> None:
    ingest = make_ingest(store)
    r = await ingest.accept(inbound())
    await store.resolve(r.conversation_id, by="alice", now_ms=int(time.time() * 1000), payload="{}")
    thumbs = await ingest.accept(inbound(text="👍", route=False, flags=["reaction"]))
    assert thumbs.conversation_id == r.conversation_id and thumbs.conversation_state == "existing"
    conv = await store.get_conversation(r.conversation_id)
    assert conv.status == "resolved" and conv.message_count == 2 and conv.sla_state == "none"
    back = await ingest.accept(inbound(text="还有一个问题"))
    assert back.conversation_state == "reopened"
    await store.set_pending(r.conversation_id, now_ms=2)
    await ingest.accept(inbound(text="👌", route=False, flags=["reaction"]))
    assert (await store.get_conversation(r.conversation_id)).status == "pending"
