"""``broker.inbound_in_opened`` (both stores): a new conversation's first message travels
inside ``conversation.opened``; every later message is a ``message.inbound`` of its own."""

from __future__ import annotations

from gateway.storage.base import Store
from tests.helpers import inbound, make_config, make_ingest
from tests.storage.test_ingest_contract import drain_outbox


async def test_the_first_message_rides_in_conversation_opened(store: Store) -> None:
    ingest = make_ingest(store, make_config(broker={"inbound_in_opened": True}))
    first = await ingest.accept(inbound(external_id="io-1", text="付款失败 payment failed 4111 1111 1111 1111"))
    published = await drain_outbox(store)
    assert sorted(p["rk"] for p in published) == ["conversation.opened", "general"]  # no message.inbound
    [opened] = [p["body"] for p in published if p["rk"] == "conversation.opened"]
    assert opened["type"] == "conversation.opened" and opened["conversation_id"] == first.conversation_id
    assert opened["message"]["id"] == first.message_id
    assert opened["message"]["conversation_id"] == first.conversation_id
    assert opened["message"]["text"] == "付款失败 payment failed **** **** **** 1111"  # masked as everywhere

    second = await ingest.accept(inbound(external_id="io-2", text="still failing"))
    assert second.conversation_id == first.conversation_id
    [later] = await drain_outbox(store)
    assert later["rk"] == "message.inbound" and later["body"]["message"]["id"] == second.message_id


async def test_by_default_the_first_message_is_a_message_inbound_too(store: Store) -> None:
    ingest = make_ingest(store)
    first = await ingest.accept(inbound(external_id="io-3"))
    published = await drain_outbox(store)
    assert sorted(p["rk"] for p in published) == ["conversation.opened", "general", "message.inbound"]
    [opened] = [p["body"] for p in published if p["rk"] == "conversation.opened"]
    assert "message" not in opened
    [message] = [p["body"] for p in published if p["rk"] == "message.inbound"]
    assert message["message"]["id"] == first.message_id
