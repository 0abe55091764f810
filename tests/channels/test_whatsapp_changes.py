"""WhatsApp Cloud API end to end for what is more than a new message: edits and
revocations change the stored message, customers known only by a username, group
conversations, orders, and kinds that are counted instead of stored — over both stores,
against a fake Graph API server."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.storage.base import Store
from tests.channels import test_meta_whatsapp as wa
from tests.channels.social_fakes import FakeProvider, conversations_of, messages_of, reply
from tests.channels.test_meta_whatsapp import NUMBER_ID, WANG, delivery, post, text_message, ts, value
from tests.conftest import eventually

# The WhatsApp gateway and its fake Graph API, as in test_meta_whatsapp.
graph = wa.graph
client = wa.client

BSUID = "US.13491208655302741918"
GROUP = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD"


def change(wamid: str, kind: str, original: str, **inner: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"original_message_id": original}
    if inner:
        body["message"] = inner
    return {"from": WANG, "id": wamid, "timestamp": ts(), "type": kind, kind: body}


async def ignored_account_updates(client: TestClient) -> int:
    metrics = await (await client.get("/metrics")).text()
    found = re.search(
        r'^gateway_inbound_ignored_total\{channel="whatsapp",kind="account_update"\} (\S+)', metrics, re.M
    )
    return int(float(found.group(1))) if found else 0


async def test_an_edit_changes_the_stored_message_once_and_offers_nothing_new(client: TestClient, store: Store) -> None:
    await post(client, delivery([value([text_message("wamid.O1", "转账 500 元失败")], contacts={WANG: "王小明"})]))
    [conv] = await conversations_of(store, f"phone:+{WANG}")
    edit = change("wamid.E1", "edit", "wamid.O1", type="text", text={"body": "转账 800 元失败"})
    answer = await post(client, delivery([value([edit])]))
    assert (answer["stored"], answer["amended"]) == (0, 1)
    assert (await post(client, delivery([value([edit])])))["duplicates"] == 1  # Meta's redelivery
    [message] = await messages_of(store, f"phone:+{WANG}")
    assert message.text == "转账 800 元失败" and "edited" in message.flags
    assert message.meta["edit"]["original_text"] == "转账 500 元失败" and message.meta["edit"]["edits"] == 1
    after = await store.get_conversation(conv.id)
    assert after is not None and after.routing_version == conv.routing_version and after.message_count == 1


async def test_a_revoke_marks_the_message_deleted_and_is_no_new_message(client: TestClient, store: Store) -> None:
    await post(client, delivery([value([text_message("wamid.O2", "my card 4111 1111 1111 1111")])]))
    answer = await post(client, delivery([value([change("wamid.X2", "revoke", "wamid.O2")])]))
    assert (answer["stored"], answer["amended"]) == (0, 1)
    [message] = await messages_of(store, f"phone:+{WANG}")
    assert "deleted" in message.flags and message.meta["deleted_at"]
    assert "4111 1111" not in message.text  # masked when it came, deletion or not


async def test_a_revoke_of_a_message_never_stored_is_counted_not_stored(client: TestClient, store: Store) -> None:
    answer = await post(client, delivery([value([change("wamid.X3", "revoke", "wamid.NEVER")])]))
    assert answer["stored"] == 0 and await messages_of(store, f"phone:+{WANG}") == []
    metrics = await (await client.get("/metrics")).text()
    assert 'gateway_inbound_ignored_total{channel="whatsapp",kind="deleted_unknown_message"}' in metrics


async def test_a_customer_known_only_by_a_username_is_stored_and_answered_by_user_id(
    client: TestClient, store: Store, graph: tuple[FakeProvider, str]
) -> None:
    fake, _ = graph
    message = {"from_user_id": BSUID, "id": "wamid.U1", "timestamp": ts(), "type": "text", "text": {"body": "退款"}}
    profiles = [{"profile": {"name": "Jane", "username": "@jane"}, "user_id": BSUID}]
    v = value([message])
    v["contacts"] = profiles
    assert (await post(client, delivery([v])))["stored"] == 1
    [conv] = await conversations_of(store, f"whatsapp:{BSUID}")
    status, _ = await reply(client, conv.id, {"text": "您好"})
    assert status == 202
    [sent] = await eventually(lambda: fake.to("/messages"))
    assert sent.json["recipient"] == BSUID and "to" not in sent.json
    assert sent.json["recipient_type"] == "individual"


async def test_the_same_person_with_phone_and_user_id_is_one_contact(client: TestClient, store: Store) -> None:
    await post(client, delivery([value([text_message("wamid.P1", "first, by number")])]))
    both = {**text_message("wamid.P2", "second, with my user id"), "from_user_id": BSUID}
    await post(client, delivery([value([both])]))
    alone = {"from_user_id": BSUID, "id": "wamid.P3", "timestamp": ts(), "type": "text", "text": {"body": "third"}}
    await post(client, delivery([value([alone])]))
    by_phone = await store.lookup_contact([f"phone:+{WANG}"])
    by_user = await store.lookup_contact([f"whatsapp:{BSUID}"])
    assert by_phone is not None and by_user is not None and by_phone.id == by_user.id


async def test_group_messages_have_their_own_conversation_and_replies_go_to_the_group(
    client: TestClient, store: Store, graph: tuple[FakeProvider, str]
) -> None:
    fake, _ = graph
    await post(client, delivery([value([text_message("wamid.D1", "one to one")], contacts={WANG: "王小明"})]))
    in_group = {**text_message("wamid.G1", "群里问一下：退款多久到账？"), "group_id": GROUP}
    assert (await post(client, delivery([value([in_group], contacts={WANG: "王小明"})])))["stored"] == 1
    [direct] = await conversations_of(store, f"phone:+{WANG}")
    assert [m.text for m in await store.get_messages(direct.id)] == ["one to one"]
    [group] = await conversations_of(store, f"whatsapp:group:{GROUP}")
    [said] = await store.get_messages(group.id)
    assert said.text == "王小明: 群里问一下：退款多久到账？" and said.meta["group"]["from"] == f"phone:+{WANG}"
    status, _ = await reply(client, group.id, {"text": "一般 3 个工作日"})
    assert status == 202
    [sent] = await eventually(lambda: fake.to("/messages"))
    assert (sent.json["recipient_type"], sent.json["to"]) == ("group", GROUP)
    assert sent.path == f"/v21.0/{NUMBER_ID}/messages"


async def test_an_order_reads_as_items_and_total_without_its_catalog_id(client: TestClient, store: Store) -> None:
    order = {
        "from": WANG,
        "id": "wamid.ORD1",
        "timestamp": ts(),
        "type": "order",
        "order": {
            "catalog_id": "4111111111111111",
            "text": "",
            "product_items": [{"product_retailer_id": "sku-1", "quantity": 2, "item_price": 9.5, "currency": "CNY"}],
        },
    }
    await post(client, delivery([value([order])]))
    [message] = await messages_of(store, f"phone:+{WANG}")
    assert message.text == "🛒 Order: 2 items, total 19.00 CNY"
    # The catalog id is the provider's structural id (Luhn-valid here): kept as sent.
    assert message.meta["order"]["catalog_id"] == "4111111111111111"


async def test_webhook_fields_that_are_not_conversations_are_counted(client: TestClient, store: Store) -> None:
    before = await ignored_account_updates(client)
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}]}],
    }
    answer = await post(client, body)
    assert answer["skipped"] == 1 and answer["stored"] == 0
    assert await ignored_account_updates(client) == before + 1
