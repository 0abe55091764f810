"""What intake sees before routing, and what an interceptor's verdict does — both stores."""

from __future__ import annotations

from gateway.core.ingest import Verdict
from gateway.model import Channel, InboundMessage
from gateway.storage.base import Prepared, Store
from tests.helpers import inbound, make_ingest


class Recorder:
    def __init__(self, verdict: Verdict | None = None) -> None:
        self.seen: list[Prepared] = []
        self.verdict = verdict

    async def inspect(self, message: InboundMessage, prepared: Prepared) -> Verdict | None:
        self.seen.append(prepared)
        return self.verdict


async def test_the_glance_shows_the_conversation_a_message_would_join(store: Store) -> None:
    ingest = make_ingest(store)
    recorder = Recorder()
    ingest.interceptors.append(recorder)
    first = await ingest.accept(inbound(contact_attributes={"tier": "vip"}))
    assert recorder.seen[0].conversation is None and recorder.seen[0].contact_id is None
    await store.claim(first.conversation_id, "alice", version=None, capacity=0, now_ms=1, payload="{}")
    await ingest.accept(inbound())
    glance = recorder.seen[1].conversation
    assert glance.id == first.conversation_id and glance.status == "open" and glance.assignee == "alice"
    assert recorder.seen[1].contact_attributes == {"tier": "vip"} and recorder.seen[1].contact_id == first.contact_id
    mail = await ingest.accept(
        inbound(channel=Channel.EMAIL, sender=("email", "x@example.com"), own_thread_ids=["<a@x>"])
    )
    await ingest.accept(inbound(channel=Channel.EMAIL, sender=("email", "x@example.com"), thread_refs=["<a@x>"]))
    assert recorder.seen[-1].conversation.id == mail.conversation_id and recorder.seen[-1].conversation.offered


async def test_a_verdict_keeps_the_message_from_agents_and_schedules_follow_up(store: Store) -> None:
    ingest = make_ingest(store)
    ingest.interceptors.append(
        Recorder(
            Verdict(
                route=False,
                flags_add=["self_service"],
                conversation_attributes={"faq": "reset-password"},
                timers=[("faq_answer", "reset-password", 0)],
            )
        )
    )
    r = await ingest.accept(inbound(text="怎么重置密码"))
    conv = await store.get_conversation(r.conversation_id)
    assert conv.queue is None and conv.routing_version == 0 and conv.sla_state == "none"
    assert conv.flags == ["self_service"] and conv.attributes == {"faq": "reset-password"}
    due = [t for t in await store.timers_due(10**15, limit=10, lease_ms=1) if t.kind == "faq_answer"]
    assert [(t.conversation_id, t.argument) for t in due] == [(r.conversation_id, "reset-password")]
    ingest.interceptors[0] = Recorder(Verdict(flags_remove=["self_service"]))
    await ingest.accept(inbound(text="人工"))
    conv = await store.get_conversation(r.conversation_id)
    assert conv.flags == [] and conv.queue == "general" and conv.routing_version == 1


async def test_a_request_the_bot_answers_reopens_or_starts_a_conversation_without_an_offer(store: Store) -> None:

    clock = [1_800_000_000.0]
    ingest = make_ingest(store, clock=lambda: clock[0])
    first = await ingest.accept(inbound(text="my payment failed"))
    await store.resolve(first.conversation_id, by="alice", now_ms=int(clock[0] * 1000), payload="{}")
    ingest.interceptors.append(Recorder(Verdict(route=False, opens=True, flags_add=["self_service"])))
    clock[0] += 3600
    again = await ingest.accept(inbound(text="how do I reset my password?"))
    assert again.conversation_id == first.conversation_id and again.conversation_state == "reopened"
    conv = await store.get_conversation(first.conversation_id)
    assert conv.status == "open" and conv.routing_version == 1 and conv.waiting_since is None  # no new offer
    await store.resolve(first.conversation_id, by="bot", now_ms=int(clock[0] * 1000), payload="{}")
    clock[0] += 8 * 86400  # past the reopen window
    later = await ingest.accept(inbound(text="how do I close my account?"))
    assert later.conversation_id != first.conversation_id and later.conversation_state == "new"
    assert (await store.get_conversation(later.conversation_id)).queue is None
