"""The storage contract for intake, run over MemoryStore and RedisStore alike."""

from __future__ import annotations

import asyncio
import json

from gateway.core.outbox import build_body
from gateway.model import Channel, Identity, IdentityKind
from gateway.storage.base import Store
from tests.helpers import inbound, make_config, make_ingest


async def drain_outbox(store: Store) -> list[dict]:
    entries = await store.outbox_read("test", count=1000, block_ms=0, retry_own=False)
    await store.outbox_ack([e.entry_id for e in entries])
    return [{"message_id": e.message_id, "rk": e.routing_key, "body": json.loads(build_body(e))} for e in entries]


async def test_first_message_creates_contact_conversation_and_message(store: Store) -> None:
    ingest = make_ingest(store)
    result = await ingest.accept(inbound(text="付款失败了 payment failed", sender_name="王小明"))
    assert not result.duplicate and result.conversation_state == "new"
    conv = await store.get_conversation(result.conversation_id)
    assert conv is not None and conv.contact_id == result.contact_id
    assert conv.status == "open" and conv.queue == "general" and conv.priority == 3
    assert conv.routing_version == 1 and conv.waiting_since is not None
    messages = await store.get_messages(result.conversation_id)
    assert [m.text for m in messages] == ["付款失败了 payment failed"]
    assert messages[0].conversation_id == result.conversation_id
    contact = await store.get_contact(result.contact_id)
    assert contact is not None and contact.name == "王小明"
    assert contact.identities == [Identity(kind=IdentityKind.API, value="cust-1")]


async def test_duplicate_external_id_creates_nothing(store: Store) -> None:
    ingest = make_ingest(store)
    first = await ingest.accept(inbound(external_id="same-1"))
    again = await ingest.accept(inbound(external_id="same-1", text="different text, same id"))
    assert again.duplicate
    assert (again.conversation_id, again.message_id, again.contact_id) == (
        first.conversation_id,
        first.message_id,
        first.contact_id,
    )
    assert len(await store.get_messages(first.conversation_id)) == 1


async def test_twenty_concurrent_deliveries_create_one_message(store: Store) -> None:
    ingest = make_ingest(store)
    results = await asyncio.gather(*(ingest.accept(inbound(external_id="burst-1")) for _ in range(20)))
    assert len({r.message_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert len(await store.get_messages(results[0].conversation_id)) == 1
    page = await store.list_conversations()
    assert len(page.conversations) == 1


async def test_same_external_id_on_another_channel_is_another_message(store: Store) -> None:
    ingest = make_ingest(store)
    a = await ingest.accept(inbound(channel=Channel.API, external_id="x1"))
    b = await ingest.accept(inbound(channel=Channel.SMS, sender=("phone", "+8613800138000"), external_id="x1"))
    assert not b.duplicate and a.message_id != b.message_id


async def test_second_message_joins_the_open_conversation_with_one_offer(store: Store) -> None:
    ingest = make_ingest(store)
    first = await ingest.accept(inbound(text="first"))
    second = await ingest.accept(inbound(text="second"))
    assert second.conversation_id == first.conversation_id and second.conversation_state == "existing"
    published = await drain_outbox(store)
    kinds = sorted(p["rk"] if p["rk"] != "general" else "offer" for p in published)
    assert kinds == ["conversation.opened", "message.inbound", "message.inbound", "offer"]
    offer = next(p for p in published if p["rk"] == "general")
    assert offer["message_id"] == f"offer:{first.conversation_id}:1"
    body = offer["body"]
    assert body["type"] == "conversation.offer" and body["reason"] == "new"
    assert body["conversation_id"] == first.conversation_id and body["contact_id"] == first.contact_id
    assert body["routing_version"] == 1 and body["queue"] == "general" and body["priority"] == 3
    assert body["preview"] == "first" and body["reply_by"].endswith("Z") and body["channel"] == "api"
    inbound_events = [p["body"] for p in published if p["rk"] == "message.inbound"]
    assert {e["message"]["text"] for e in inbound_events} == {"first", "second"}
    assert all(e["message"]["conversation_id"] == first.conversation_id for e in inbound_events)


async def test_phone_identity_is_one_contact_across_sms_and_api(store: Store) -> None:
    ingest = make_ingest(store)
    sms = await ingest.accept(inbound(channel=Channel.SMS, sender=("phone", "+8613800138000"), endpoint="+15550001111"))
    api = await ingest.accept(
        inbound(sender=("api", "crm-77"), extra_identities=[Identity(kind=IdentityKind.PHONE, value="+8613800138000")])
    )
    assert api.contact_id == sms.contact_id
    assert api.conversation_id != sms.conversation_id  # one thread per channel endpoint
    contact = await store.get_contact(sms.contact_id)
    assert {i.key for i in contact.identities} == {"phone:+8613800138000", "api:crm-77"}


async def test_identity_of_another_contact_is_not_stolen(store: Store) -> None:
    ingest = make_ingest(store)
    a = await ingest.accept(inbound(sender=("api", "a")))
    b = await ingest.accept(inbound(sender=("email", "b@example.com")))
    mixed = await ingest.accept(
        inbound(sender=("api", "a"), extra_identities=[Identity(kind=IdentityKind.EMAIL, value="b@example.com")])
    )
    assert mixed.contact_id == a.contact_id
    assert {i.key for i in (await store.get_contact(b.contact_id)).identities} == {"email:b@example.com"}


async def test_contact_attributes_are_merged(store: Store) -> None:
    ingest = make_ingest(store)
    first = await ingest.accept(inbound(contact_attributes={"tier": "vip", "tags": ["merchant"]}))
    await ingest.accept(inbound(contact_attributes={"language": "zh"}))
    contact = await store.get_contact(first.contact_id)
    assert contact.attributes == {"tier": "vip", "tags": ["merchant"], "language": "zh"}


async def test_card_numbers_are_masked_before_storage_and_events(store: Store) -> None:
    ingest = make_ingest(store)
    result = await ingest.accept(inbound(text="卡号 4111 1111 1111 1111 扣款失败"))
    [message] = await store.get_messages(result.conversation_id)
    assert message.text == "卡号 **** **** **** 1111 扣款失败"
    raw = json.dumps(await drain_outbox(store), ensure_ascii=False)
    assert "4111 1111 1111 1111" not in raw and "**** **** **** 1111" in raw


async def test_reply_deadline_is_armed_by_the_first_unanswered_message(store: Store) -> None:
    clock = [1_800_000_000.0]
    config = make_config(reply_tracking={"default": "24h", "channels": {"webchat": "10m"}})
    ingest = make_ingest(store, config, clock=lambda: clock[0])
    first = await ingest.accept(inbound())
    clock[0] += 60
    await ingest.accept(inbound())
    conv = await store.get_conversation(first.conversation_id)
    assert conv.sla_state == "active"
    assert conv.awaiting_since.timestamp() == 1_800_000_000.0
    assert conv.reply_by.timestamp() == 1_800_000_000.0 + 86400
    chat = await ingest.accept(inbound(channel=Channel.WEBCHAT, sender=("webchat", "v-1")))
    conv = await store.get_conversation(chat.conversation_id)
    assert conv.reply_by.timestamp() == clock[0] + 600


async def test_messaging_window_follows_the_customers_last_message(store: Store) -> None:
    clock = [1_800_000_000.0]
    ingest = make_ingest(store, clock=lambda: clock[0])
    wa = await ingest.accept(inbound(channel=Channel.WHATSAPP, sender=("phone", "+8613800138000")))
    conv = await store.get_conversation(wa.conversation_id)
    assert conv.window_expires_at.timestamp() == 1_800_000_000.0 + 86400
    clock[0] += 3600
    await ingest.accept(inbound(channel=Channel.WHATSAPP, sender=("phone", "+8613800138000")))
    conv = await store.get_conversation(wa.conversation_id)
    assert conv.window_expires_at.timestamp() == 1_800_003_600.0 + 86400
    api = await ingest.accept(inbound())
    assert (await store.get_conversation(api.conversation_id)).window_expires_at is None


async def test_email_threads_by_references_then_token_else_new(store: Store) -> None:
    ingest = make_ingest(store)
    email = Channel.EMAIL
    sender = ("email", "li@example.com")
    first = await ingest.accept(
        inbound(channel=email, sender=sender, subject="退款", own_thread_ids=["<a1@example.com>"], endpoint="support")
    )
    reply = await ingest.accept(
        inbound(
            channel=email,
            sender=sender,
            thread_refs=["<unknown@x>", "<a1@example.com>"],
            own_thread_ids=["<a2@example.com>"],
            endpoint="support",
        )
    )
    assert reply.conversation_id == first.conversation_id
    by_token = await ingest.accept(
        inbound(channel=email, sender=sender, thread_conversation_id=first.conversation_id, endpoint="support")
    )
    assert by_token.conversation_id == first.conversation_id
    fresh = await ingest.accept(inbound(channel=email, sender=sender, subject="另一个问题", endpoint="support"))
    assert fresh.conversation_id != first.conversation_id and fresh.conversation_state == "new"
    conv = await store.get_conversation(first.conversation_id)
    assert conv.subject == "退款"


async def test_unrouted_message_is_stored_but_not_offered(store: Store) -> None:
    ingest = make_ingest(store)
    result = await ingest.accept(inbound(route=False, flags=["auto_reply"]))
    conv = await store.get_conversation(result.conversation_id)
    assert conv.queue is None and conv.routing_version == 0 and conv.sla_state == "none"
    published = await drain_outbox(store)
    assert "general" not in {p["rk"] for p in published}
    [message] = await store.get_messages(result.conversation_id)
    assert message.flags == ["auto_reply"]


async def test_list_conversations_filters_and_pages(store: Store) -> None:
    now = [1_800_000_000.0]
    ingest = make_ingest(store, clock=lambda: now[0])
    ids = []
    for i in range(5):
        r = await ingest.accept(inbound(sender=("api", f"c{i}")))
        ids.append(r.conversation_id)
        now[0] += 1  # the next one is newer
    page = await store.list_conversations(limit=3)
    assert [c.id for c in page.conversations] == ids[::-1][:3]
    assert page.next_before is not None
    rest = await store.list_conversations(limit=3, before=page.next_before)
    assert [c.id for c in rest.conversations] == ids[::-1][3:]
    assert (await store.list_conversations(queue="general", limit=10)).conversations
    assert not (await store.list_conversations(queue="nowhere")).conversations
    assert len((await store.list_conversations(status="open", limit=10)).conversations) == 5
    assert not (await store.list_conversations(status="resolved")).conversations
    mine = await store.list_conversations(contact_id=(await store.get_conversation(ids[2])).contact_id)
    assert [c.id for c in mine.conversations] == [ids[2]]
