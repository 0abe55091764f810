"""The storage contract for a customer's edits and deletions, over MemoryStore and
RedisStore alike: found by (channel, provider id), applied once, never offered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from gateway.model import Amendment, Attachment, Channel, Identity, IdentityKind
from gateway.storage.base import Store
from tests.helpers import inbound, make_ingest
from tests.storage.test_ingest_contract import drain_outbox

WANG = ("phone", "+8613800138000")
LI = ("phone", "+8613900139000")


def change(
    target: str,
    change_id: str,
    *,
    action: str = "edited",
    text: str = "",
    sender: tuple[str, str] = WANG,
    at: int = 1_700_000_100,
    **extra: object,
) -> Amendment:
    return Amendment(
        channel=Channel.WHATSAPP,
        external_id=change_id,
        target_external_id=target,
        action=action,  # type: ignore[arg-type]
        sender=Identity(kind=IdentityKind(sender[0]), value=sender[1]),
        text=text,
        provider_ts=datetime.fromtimestamp(at, UTC),
        **extra,  # type: ignore[arg-type]
    )


async def test_an_edit_shows_the_new_text_keeps_the_original_and_is_not_offered(store: Store) -> None:
    ingest = make_ingest(store)
    first = await ingest.accept(inbound(channel=Channel.WHATSAPP, sender=WANG, external_id="wamid.A", text="退款 100"))
    await drain_outbox(store)
    result = await ingest.amend(change("wamid.A", "wamid.E1", text="退款 120 元，卡号 4111 1111 1111 1111"))
    assert (result.outcome, result.conversation_id, result.message_id) == (
        "applied",
        first.conversation_id,
        first.message_id,
    )
    [message] = await store.get_messages(first.conversation_id)
    assert message.text == "退款 120 元，卡号 **** **** **** 1111"  # masked like any customer text
    assert "edited" in message.flags
    assert message.meta["edit"]["original_text"] == "退款 100" and message.meta["edit"]["edits"] == 1
    published = await drain_outbox(store)
    assert [p["rk"] for p in published] == ["message.edited"]
    body = published[0]["body"]
    assert body["message_id"] == first.message_id and body["conversation_id"] == first.conversation_id
    assert body["external_id"] == "wamid.A" and "4111 1111" not in body["text"]


async def test_a_second_delivery_of_an_edit_changes_nothing(store: Store) -> None:
    ingest = make_ingest(store)
    first = await ingest.accept(inbound(channel=Channel.WHATSAPP, sender=WANG, external_id="wamid.B"))
    await ingest.amend(change("wamid.B", "wamid.E2", text="second thoughts"))
    await drain_outbox(store)
    again = await ingest.amend(change("wamid.B", "wamid.E2", text="second thoughts"))
    assert again.outcome == "duplicate" and again.message_id == first.message_id
    [message] = await store.get_messages(first.conversation_id)
    assert message.meta["edit"]["edits"] == 1
    assert await drain_outbox(store) == []


async def test_concurrent_copies_of_one_edit_apply_once(store: Store) -> None:
    ingest = make_ingest(store)
    first = await ingest.accept(inbound(channel=Channel.WHATSAPP, sender=WANG, external_id="wamid.C"))
    await drain_outbox(store)
    results = await asyncio.gather(*(ingest.amend(change("wamid.C", "wamid.E3", text="new")) for _ in range(10)))
    assert sorted(r.outcome for r in results) == ["applied"] + ["duplicate"] * 9
    assert [p["rk"] for p in await drain_outbox(store)] == ["message.edited"]
    [message] = await store.get_messages(first.conversation_id)
    assert message.meta["edit"]["edits"] == 1


async def test_edits_arriving_out_of_order_leave_the_latest_text(store: Store) -> None:
    ingest = make_ingest(store)
    first = await ingest.accept(inbound(channel=Channel.WHATSAPP, sender=WANG, external_id="wamid.D"))
    assert (await ingest.amend(change("wamid.D", "e-late", text="third", at=1_700_000_300))).outcome == "applied"
    assert (await ingest.amend(change("wamid.D", "e-early", text="second", at=1_700_000_200))).outcome == "stale"
    [message] = await store.get_messages(first.conversation_id)
    assert message.text == "third" and message.meta["edit"]["edits"] == 2


async def test_an_edit_can_replace_the_attachments(store: Store) -> None:
    ingest = make_ingest(store)
    first = await ingest.accept(
        inbound(
            channel=Channel.WHATSAPP,
            sender=WANG,
            external_id="wamid.M",
            text="receipt",
            attachments=[Attachment(media_id="m-1", content_type="image/jpeg")],
        )
    )
    photo = Attachment(media_id="m-2", content_type="image/png")
    await ingest.amend(change("wamid.M", "wamid.EM", text="the right receipt", attachments=[photo]))
    [message] = await store.get_messages(first.conversation_id)
    assert message.text == "the right receipt" and [a.media_id for a in message.attachments] == ["m-2"]


async def test_a_deletion_marks_the_message_deleted_once(store: Store) -> None:
    ingest = make_ingest(store)
    first = await ingest.accept(inbound(channel=Channel.WHATSAPP, sender=WANG, external_id="wamid.F", text="oops"))
    await drain_outbox(store)
    deleted = await ingest.amend(change("wamid.F", "wamid.R1", action="deleted"))
    assert deleted.outcome == "applied"
    assert (await ingest.amend(change("wamid.F", "wamid.R1", action="deleted"))).outcome == "duplicate"
    assert (await ingest.amend(change("wamid.F", "wamid.R2", action="deleted"))).outcome == "stale"
    assert (await ingest.amend(change("wamid.F", "wamid.E4", text="too late"))).outcome == "stale"
    [message] = await store.get_messages(first.conversation_id)
    assert "deleted" in message.flags and message.text == "oops" and message.meta["deleted_at"]
    assert [p["rk"] for p in await drain_outbox(store)] == ["message.deleted"]
    conv = await store.get_conversation(first.conversation_id)
    assert conv is not None and conv.message_count == 1 and conv.routing_version == 1  # no new offer


async def test_another_customer_cannot_change_a_message(store: Store) -> None:
    ingest = make_ingest(store)
    first = await ingest.accept(inbound(channel=Channel.WHATSAPP, sender=WANG, external_id="wamid.G", text="mine"))
    await ingest.accept(inbound(channel=Channel.WHATSAPP, sender=LI, external_id="wamid.H", text="li's"))
    assert (await ingest.amend(change("wamid.G", "wamid.X1", action="deleted", sender=LI))).outcome == "not_found"
    [message] = await store.get_messages(first.conversation_id)
    assert "deleted" not in message.flags


async def test_an_edit_of_an_unknown_message_is_stored_as_a_message_of_its_own(store: Store) -> None:
    ingest = make_ingest(store)
    result = await ingest.amend(change("wamid.GONE", "wamid.E5", text="the corrected amount is 300", endpoint="wa"))
    assert result.outcome == "stored_new"
    [message] = await store.get_messages(result.conversation_id or "")
    assert message.text == "the corrected amount is 300" and "edited" in message.flags
    assert message.meta["edited_message_id"] == "wamid.GONE"
    again = await ingest.amend(change("wamid.GONE", "wamid.E5", text="the corrected amount is 300"))
    assert again.outcome == "duplicate" and again.message_id == result.message_id
    assert len(await store.get_messages(result.conversation_id or "")) == 1


async def test_a_deletion_of_an_unknown_message_stores_nothing(store: Store) -> None:
    ingest = make_ingest(store)
    result = await ingest.amend(change("wamid.NEVER", "wamid.R9", action="deleted"))
    assert result.outcome == "not_found" and result.conversation_id is None
    assert (await store.list_conversations()).conversations == []
