"""Intake in one round trip (both stores): a message is decided on the guess of a new
contact and written by ``ingest`` alone; when the guess is wrong (an identity is known) the
store writes nothing and answers what ``prepare`` reads, and the message is decided again
with the stored contact — so routing sees the same contact either way."""

from __future__ import annotations

from typing import Any

from gateway.core.ingest import Ingest
from gateway.model import RoutingContext, RoutingDecision
from gateway.routing.router import SingleQueueRouter
from gateway.storage.base import Prepared, Store
from tests.helpers import inbound, make_config


class Recorder(SingleQueueRouter):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[RoutingContext] = []

    def decide(self, ctx: RoutingContext) -> RoutingDecision:
        self.seen.append(ctx)
        return super().decide(ctx)


def ingest_with(store: Store, router: Recorder, **kw: Any) -> Ingest:
    return Ingest(store=store, router=lambda: router, config=make_config(), **kw)


async def test_a_returning_contact_is_decided_again_with_what_is_stored(store: Store) -> None:
    router = Recorder()
    ingest = ingest_with(store, router)
    first = await ingest.accept(inbound(external_id="ot-1", contact_attributes={"tier": "vip"}))
    assert [c.new_contact for c in router.seen] == [True]  # one decision: the guess was right

    router.seen.clear()
    second = await ingest.accept(inbound(external_id="ot-2", text="again"))
    assert second.conversation_id == first.conversation_id and second.contact_id == first.contact_id
    # The guess (a new contact) was refused by the store; the message was decided again
    # with the stored contact and its attributes, and written once.
    assert [c.new_contact for c in router.seen] == [True, False]
    assert router.seen[-1].contact_attributes == {"tier": "vip"}
    assert [m.external_id for m in await store.get_messages(first.conversation_id)] == ["ot-1", "ot-2"]


async def test_an_optimistic_plan_for_a_known_identity_writes_nothing(store: Store) -> None:
    router = Recorder()
    ingest = ingest_with(store, router)
    first = await ingest.accept(inbound(external_id="ot-3"))
    depth = (await store.outbox_stats()).depth
    plan = ingest._plan(inbound(external_id="ot-4"), ["api:cust-1"], router.decide(router.seen[0]), 1_700_000_000_000)
    plan.optimistic = True
    answer = await store.ingest(plan)
    assert isinstance(answer, Prepared) and answer.duplicate is None
    assert answer.contact_id == first.contact_id
    assert answer.conversation is not None and answer.conversation.id == first.conversation_id
    assert (await store.outbox_stats()).depth == depth
    assert len(await store.get_messages(first.conversation_id)) == 1


async def test_an_interceptor_without_needs_existing_gets_every_message_prepared(store: Store) -> None:
    seen: list[Prepared] = []

    class Looker:
        async def inspect(self, message: Any, prepared: Prepared) -> None:
            seen.append(prepared)

    router = Recorder()
    ingest = ingest_with(store, router)
    ingest.interceptors.append(Looker())
    await ingest.accept(inbound(external_id="ot-5"))
    await ingest.accept(inbound(external_id="ot-6"))
    assert [p.contact_id is None for p in seen] == [True, False]  # read from the store each time
    assert len(router.seen) == 2  # no guess, no second decision
