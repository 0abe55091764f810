"""Agent replies as SMS/MMS through a fake Twilio REST API, and delivery status callbacks."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import MultiDictProxy

from gateway.storage.base import Store
from tests.channels.twilio_helpers import (
    CUSTOMER,
    OUR_NUMBER,
    PUBLIC_URL,
    FakeTwilio,
    conversation,
    fake_twilio,
    post_signed,
    sid,
    sms_params,
    twilio_client,
)
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, auth

STATUS = "/webhooks/twilio/status"


@pytest.fixture
async def twilio_api(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    return await fake_twilio(aiohttp_server)


@pytest.fixture
async def client(aiohttp_client: Any, store: Store, twilio_api: tuple[FakeTwilio, str]) -> TestClient:
    return await twilio_client(aiohttp_client, store, api_base_url=twilio_api[1])


async def customer_wrote(client: TestClient, text: str = "我的退款什么时候到账？") -> str:
    resp = await post_signed(client, "/webhooks/twilio/sms", sms_params(sid("SM"), body=text))
    assert resp.status == 200
    [listed] = (await (await client.get("/api/v1/conversations", headers=auth())).json())["conversations"]
    return listed["id"]


async def reply(client: TestClient, cid: str, **body: Any) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/conversations/{cid}/messages", json=body, headers=auth(ALICE_TOKEN))
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def stored(client: TestClient, cid: str, message_id: str) -> dict[str, Any]:
    conv = await conversation(client, cid)
    return next(m for m in conv["messages"] if m["id"] == message_id)


async def _has(awaitable: Awaitable[dict[str, Any]], **expected: Any) -> bool:
    message = await awaitable
    return all(message.get(k) == v for k, v in expected.items())


async def status_callback(client: TestClient, message_sid: str, status: str, **extra: str) -> int:
    params = [
        ("AccountSid", "AC" + "7e3c" * 8),
        ("From", OUR_NUMBER),
        ("MessageSid", message_sid),
        ("MessageStatus", status),
        ("SmsSid", message_sid),
        ("SmsStatus", status),
        ("To", CUSTOMER),
        *extra.items(),
    ]
    return (await post_signed(client, STATUS, params)).status


async def test_a_reply_is_posted_to_twilio_with_basic_auth_and_its_sid_kept(
    client: TestClient, twilio_api: tuple[FakeTwilio, str]
) -> None:
    fake, _ = twilio_api
    cid = await customer_wrote(client)
    attachments = [
        {"url": "https://files.example.com/refund-receipt.pdf", "content_type": "application/pdf"},
        {"url": "https://files.example.com/steps.png", "content_type": "image/png"},
    ]
    message = await reply(client, cid, text="您好，退款已处理，3-5 个工作日到账。", attachments=attachments)
    await eventually(lambda: fake.received)
    authorization, fields = fake.received[0]
    assert authorization == FakeTwilio.basic_auth()
    assert fields["To"] == CUSTOMER and fields["From"] == OUR_NUMBER  # the number the customer wrote to
    assert "MessagingServiceSid" not in fields
    assert fields["Body"] == "您好，退款已处理，3-5 个工作日到账。"
    assert fields.getall("MediaUrl") == [a["url"] for a in attachments]
    assert fields["StatusCallback"] == PUBLIC_URL + STATUS
    await eventually(lambda: _has(stored(client, cid, message["id"]), status="sent", external_id=fake.sids[0]))


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"from_number": "+14155550111"}, {"From": "+14155550111"}),
        (
            {"messaging_service_sid": "MG" + "5" * 32, "from_number": "+14155550111"},
            {"MessagingServiceSid": "MG" + "5" * 32},
        ),
    ],
)
async def test_the_sender_is_the_messaging_service_then_from_number(
    aiohttp_client: Any, store: Store, twilio_api: tuple[FakeTwilio, str], section: dict, expected: dict
) -> None:
    fake, base = twilio_api
    client = await twilio_client(aiohttp_client, store, api_base_url=base, **section)
    cid = await customer_wrote(client)
    await reply(client, cid, text="hello")
    await eventually(lambda: fake.received)
    fields = fake.received[0][1]
    assert {k: fields.get(k) for k in ("From", "MessagingServiceSid")} == {
        "From": expected.get("From"),
        "MessagingServiceSid": expected.get("MessagingServiceSid"),
    }


async def test_a_500_is_retried_then_the_message_is_sent(
    client: TestClient, twilio_api: tuple[FakeTwilio, str]
) -> None:
    fake, _ = twilio_api
    fake.answers = [(500, {"code": 20500, "message": "Internal Server Error", "status": 500})]
    cid = await customer_wrote(client)
    message = await reply(client, cid, text="请稍等，我们正在处理")
    await eventually(lambda: _has(stored(client, cid, message["id"]), status="sent"), timeout=30)
    assert len(fake.received) == 2
    assert fake.received[0][1]["Body"] == fake.received[1][1]["Body"] == "请稍等，我们正在处理"
    final = await stored(client, cid, message["id"])
    assert final["external_id"] == fake.sids[0] and final["attempts"] == 2


async def test_a_400_with_a_twilio_error_ends_failed_with_its_code(
    client: TestClient, twilio_api: tuple[FakeTwilio, str]
) -> None:
    fake, _ = twilio_api
    fake.answers = [
        (
            400,
            {
                "code": 21211,
                "message": "The 'To' number +8613800138000 is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            },
        )
    ]
    cid = await customer_wrote(client)
    message = await reply(client, cid, text="hi")
    await eventually(lambda: _has(stored(client, cid, message["id"]), status="failed"))
    final = await stored(client, cid, message["id"])
    assert (
        final["error"] == "Twilio error 21211: The 'To' number +8613800138000 is not a valid phone number. (HTTP 400)"
    )
    assert len(fake.received) == 1


async def test_a_reply_over_1600_characters_is_refused_clearly_without_calling_twilio(
    client: TestClient, twilio_api: tuple[FakeTwilio, str]
) -> None:
    fake, _ = twilio_api
    cid = await customer_wrote(client)
    message = await reply(client, cid, text="退款说明" * 400 + "。")
    await eventually(lambda: _has(stored(client, cid, message["id"]), status="failed"))
    error = (await stored(client, cid, message["id"]))["error"]
    assert "1601 characters" in error and "1600" in error and "21617" in error
    exactly = await reply(client, cid, text="款" * 1600)
    await eventually(lambda: _has(stored(client, cid, exactly["id"]), status="sent"))
    assert len(fake.received) == 1


async def test_status_callbacks_only_move_forward_whatever_their_order(
    client: TestClient, twilio_api: tuple[FakeTwilio, str]
) -> None:
    fake, _ = twilio_api
    cid = await customer_wrote(client)
    message = await reply(client, cid, text="已为您处理")
    await eventually(lambda: _has(stored(client, cid, message["id"]), status="sent"))
    message_sid = fake.sids[0]
    assert await status_callback(client, message_sid, "delivered") == 200
    assert await status_callback(client, message_sid, "sent") == 200  # late: ignored
    assert await status_callback(client, message_sid, "sending") == 200
    await eventually(lambda: _has(stored(client, cid, message["id"]), status="delivered"))
    assert await status_callback(client, message_sid, "failed", ErrorCode="30008") == 200  # after delivered: ignored
    assert await status_callback(client, message_sid, "partially_delivered") == 200  # unknown to us: ignored
    assert await status_callback(client, message_sid, "something-new") == 200
    final = await stored(client, cid, message["id"])
    assert final["status"] == "delivered" and final["error"] in (None, "")
    assert await status_callback(client, message_sid, "read") == 200
    await eventually(lambda: _has(stored(client, cid, message["id"]), status="read"))


async def test_undelivered_records_the_error_code(client: TestClient, twilio_api: tuple[FakeTwilio, str]) -> None:
    fake, _ = twilio_api
    cid = await customer_wrote(client)
    message = await reply(client, cid, text="您好")
    await eventually(lambda: _has(stored(client, cid, message["id"]), status="sent"))
    assert await status_callback(client, fake.sids[0], "undelivered", ErrorCode="30003") == 200
    await eventually(
        lambda: _has(
            stored(client, cid, message["id"]),
            status="undelivered",
            error="Twilio error 30003: unreachable destination handset",
        )
    )


async def test_a_status_callback_that_beats_the_send_response_is_applied(
    client: TestClient, twilio_api: tuple[FakeTwilio, str]
) -> None:
    fake, _ = twilio_api
    codes: list[int] = []

    async def report_first(fields: MultiDictProxy[str], message_sid: str) -> None:
        # Twilio already reports on the message before it answers our POST.
        codes.append(await status_callback(client, message_sid, "undelivered", ErrorCode="30005"))

    fake.before_answer = report_first
    cid = await customer_wrote(client)
    message = await reply(client, cid, text="您的账户已解冻")
    await eventually(lambda: codes == [200])
    await eventually(
        lambda: _has(
            stored(client, cid, message["id"]),
            status="undelivered",
            external_id=fake.sids[0],
            error="Twilio error 30005: unknown destination handset",
        )
    )


async def test_status_callbacks_must_be_signed_and_name_a_message(client: TestClient) -> None:
    resp = await client.post(STATUS, data={"MessageSid": sid("SM"), "MessageStatus": "delivered"})
    assert resp.status == 401 and resp.content_type == "text/xml"
    missing = await post_signed(client, STATUS, [("MessageStatus", "delivered")])
    assert missing.status == 422
    unknown = await status_callback(client, sid("SM"), "delivered")
    assert unknown == 200  # not one of ours (yet): kept briefly in case our send record is late
