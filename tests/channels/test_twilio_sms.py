"""POST /webhooks/twilio/sms: signatures, parsing, MMS media, dedupe, ugly input, outages."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.channels.twilio_helpers import (
    CUSTOMER,
    OUR_NUMBER,
    PUBLIC_URL,
    all_conversations,
    form,
    only_conversation,
    post_signed,
    sid,
    sign,
    sms_params,
    twilio_client,
    twiml,
)
from tests.helpers import auth, gateway_config

SMS = "/webhooks/twilio/sms"


@pytest.fixture
async def client(aiohttp_client: Any, store: Store) -> TestClient:
    return await twilio_client(aiohttp_client, store)


async def test_signed_sms_with_chinese_text_is_stored_and_answered_with_empty_twiml(client: TestClient) -> None:
    message_sid = sid("SM")
    resp = await post_signed(client, SMS, sms_params(message_sid, body="我的银行卡 6222 0212 3456 7890 128 付款失败"))
    assert resp.status == 200
    assert resp.content_type == "text/xml"
    assert await resp.text() == str(MessagingResponse())
    conv = await only_conversation(client)
    assert conv["channel"] == "sms" and conv["endpoint"] == OUR_NUMBER
    [message] = conv["messages"]
    assert message["external_id"] == message_sid and message["direction"] == "inbound"
    assert message["text"] == "我的银行卡 **** **** **** ***0 128 付款失败"  # masked before storage
    assert message["sender"]["id"] == f"phone:{CUSTOMER}"
    assert message["meta"]["FromCountry"] == "CN" and message["meta"]["message_sid"] == message_sid
    assert [f"{i['kind']}:{i['value']}" for i in conv["contact"]["identities"]] == [f"phone:{CUSTOMER}"]


async def test_mms_with_two_media_and_unknown_fields_becomes_two_attachments(client: TestClient) -> None:
    media = [
        (f"https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/{sid('ME')}", "image/jpeg"),
        (f"https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/{sid('ME')}", "application/pdf"),
    ]
    params = sms_params(sid("MM"), body="截图和账单见附件", media=media, SomeFieldTwilioAddsLater="新字段", Foo="")
    resp = await post_signed(client, SMS, params)
    assert resp.status == 200
    [message] = (await only_conversation(client))["messages"]
    assert [(a["url"], a["content_type"]) for a in message["attachments"]] == media
    assert message["attachments"][0]["media_id"] == media[0][0].rsplit("/", 1)[1]
    assert message["text"] == "截图和账单见附件"


async def test_media_only_mms_with_a_wrong_num_media_loses_no_media(client: TestClient) -> None:
    params = [(k, v) for k, v in sms_params(sid("MM"), body="") if k != "NumMedia"]
    params += [("NumMedia", "one"), ("MediaUrl0", "https://media.example/a"), ("MediaContentType0", "image/png")]
    params += [("MediaUrl1", "https://media.example/b")]
    assert (await post_signed(client, SMS, params)).status == 200
    [message] = (await only_conversation(client))["messages"]
    assert [(a["url"], a["content_type"]) for a in message["attachments"]] == [
        ("https://media.example/a", "image/png"),
        ("https://media.example/b", "application/octet-stream"),
    ]


async def test_unsigned_requests_are_401_tampered_and_wrong_url_ones_403_and_all_store_nothing(
    client: TestClient,
) -> None:
    params = sms_params(sid("SM"))
    body, fields = form(params)
    good = sign(PUBLIC_URL + SMS, fields)
    tampered = form([(k, "我要退款" if k == "Body" else v) for k, v in params])[0]
    for unsigned in ({}, {"X-Twilio-Signature": ""}):
        headers = {**unsigned, "Content-Type": "application/x-www-form-urlencoded"}
        resp = await client.post(SMS, data=body, headers=headers)
        assert resp.status == 401, headers
        assert resp.content_type == "text/xml"
        assert "unsigned" in await resp.text()
        twiml(await resp.text())
    cases = [
        ({"X-Twilio-Signature": good}, tampered),
        ({"X-Twilio-Signature": good[:-4] + "AAA="}, body),
        ({"X-Twilio-Signature": sign("https://evil.example.com" + SMS, fields)}, body),
        ({"X-Twilio-Signature": sign(PUBLIC_URL + "/webhooks/twilio/status", fields)}, body),
        ({"X-Twilio-Signature": sign("http://support.example.com" + SMS, fields)}, body),  # scheme matters
        ({"X-Twilio-Signature": sign(PUBLIC_URL + SMS, fields, token="another-accounts-token")}, body),
    ]
    for headers, data in cases:
        headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        resp = await client.post(SMS, data=data, headers=headers)
        assert resp.status == 403, headers
        assert resp.content_type == "text/xml"
        assert "bad_signature" in await resp.text()
        twiml(await resp.text())  # well-formed TwiML even when refusing
    assert await all_conversations(client) == []


async def test_signature_with_the_default_port_added_or_removed_is_accepted(aiohttp_client: Any, store: Store) -> None:
    plain = await twilio_client(aiohttp_client, store)
    resp = await post_signed(plain, SMS, sms_params(sid("SM")), signed_url=f"https://support.example.com:443{SMS}")
    assert resp.status == 200
    with_port = await twilio_client(aiohttp_client, store, public_url="https://support.example.com:443")
    resp = await post_signed(with_port, SMS, sms_params(sid("SM")), signed_url=PUBLIC_URL + SMS)
    assert resp.status == 200
    wrong_port = await post_signed(
        plain, SMS, sms_params(sid("SM")), signed_url=f"https://support.example.com:8443{SMS}"
    )
    assert wrong_port.status == 403


async def test_the_query_string_is_part_of_what_is_signed(client: TestClient) -> None:
    path = f"{SMS}?tenant=%E5%8D%8E%E4%B8%9C&rc=2"
    assert (await post_signed(client, path, sms_params(sid("SM")))).status == 200
    unsigned_query = await post_signed(client, path, sms_params(sid("SM")), signed_url=PUBLIC_URL + SMS)
    assert unsigned_query.status == 403


async def test_redelivery_and_concurrent_deliveries_create_one_message(client: TestClient) -> None:
    params = sms_params(sid("SM"), body="重复投递测试")
    responses = await asyncio.gather(*(post_signed(client, SMS, params) for _ in range(2)))
    responses.append(await post_signed(client, SMS, params))
    assert [r.status for r in responses] == [200, 200, 200]
    assert {await r.text() for r in responses} == {str(MessagingResponse())}
    [conv] = await all_conversations(client)
    assert conv["message_count"] == 1


async def test_json_body_is_verified_by_its_body_sha256(client: TestClient) -> None:
    payload = {"MessageSid": sid("SM"), "From": CUSTOMER, "To": OUR_NUMBER, "Body": "JSON 消息", "NumMedia": 0}
    body = json.dumps(payload, ensure_ascii=False).encode()
    path = f"{SMS}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": sign(PUBLIC_URL + path, {})}
    tampered = body.replace("JSON 消息".encode(), "篡改".encode())
    assert (await client.post(path, data=tampered, headers=headers)).status == 403
    # Without bodySHA256 a URL-only signature would vouch for any body: refused.
    bare = {"Content-Type": "application/json", "X-Twilio-Signature": sign(PUBLIC_URL + SMS, {})}
    assert (await client.post(SMS, data=body, headers=bare)).status == 403
    assert await all_conversations(client) == []
    assert (await client.post(path, data=body, headers=headers)).status == 200
    [message] = (await only_conversation(client))["messages"]
    assert message["text"] == "JSON 消息"


async def test_malformed_or_unusable_messages_get_a_clear_4xx_in_twiml(client: TestClient) -> None:
    not_utf8 = "Body=付款".encode("gbk")
    headers = {"X-Twilio-Signature": "c2lnbmF0dXJl", "Content-Type": "application/x-www-form-urlencoded"}
    resp = await client.post(SMS, data=not_utf8, headers=headers)
    assert resp.status == 400 and resp.content_type == "text/xml" and "malformed_form" in await resp.text()
    cases = [
        ([(k, v) for k, v in sms_params() if "Sid" not in k or k == "AccountSid"], "MessageSid"),
        (sms_params(sender="messenger:5512345678"), "messenger"),
        (sms_params(sender="not a number"), "From"),
        ([(k, v) for k, v in sms_params() if k != "From"], "From"),
        (sms_params(sid("SM") + "x" * 60), "MessageSid"),
    ]
    for params, named in cases:
        resp = await post_signed(client, SMS, params)
        assert resp.status == 422, params
        text = await resp.text()
        assert named in text and "--" not in text.split("<!--", 1)[1].rsplit("-->", 1)[0]
        twiml(text)
    assert await all_conversations(client) == []


async def test_a_body_over_the_limit_is_413(client: TestClient) -> None:
    resp = await post_signed(client, SMS, sms_params(body="长" * 400_000))
    assert resp.status == 413


async def test_storage_down_is_503_so_twilio_retries(aiohttp_client: Any, unreachable_store: Store) -> None:
    config = gateway_config(
        http={"public_url": PUBLIC_URL},
        channels={"twilio": {"account_sid": "AC1", "auth_token": "twilio-auth-token-for-tests-51d0"}},
    )
    client = await aiohttp_client(build_app(config, store=unreachable_store, publisher=MemoryPublisher()))
    resp = await post_signed(client, SMS, sms_params(sid("SM")))
    assert resp.status == 503 and resp.headers["Retry-After"]
    assert resp.content_type == "text/xml" and "storage_unavailable" in await resp.text()


async def test_without_the_twilio_section_its_paths_answer_404(aiohttp_client: Any, store: Store) -> None:
    client = await aiohttp_client(build_app(gateway_config(), store=store, publisher=MemoryPublisher()))
    for path in (SMS, "/webhooks/twilio/status", "/webhooks/twilio/voice", "/webhooks/twilio/voice/menu"):
        assert (await post_signed(client, path, sms_params())).status == 404, path


async def test_messages_from_one_number_to_one_of_our_numbers_share_a_conversation(client: TestClient) -> None:
    for text in ("第一条", "second one"):
        assert (await post_signed(client, SMS, sms_params(body=text))).status == 200
    other = sms_params(body="to our other number")
    other = [(k, "+14155550199" if k == "To" else v) for k, v in other]
    assert (await post_signed(client, SMS, other)).status == 200
    conversations = await all_conversations(client)
    assert sorted(c["message_count"] for c in conversations) == [1, 2]
    assert len({c["contact_id"] for c in conversations}) == 1
    listing = await client.get(f"/api/v1/contacts/{conversations[0]['contact_id']}", headers=auth())
    assert len((await listing.json())["conversations"]) == 2


async def test_a_stop_handled_by_twilio_is_stored_flagged_but_offers_no_work(client: TestClient) -> None:
    stop = await post_signed(client, SMS, sms_params(sid("SM"), body="STOP", OptOutType="STOP"))
    assert stop.status == 200
    conv = await only_conversation(client)
    assert conv["messages"][0]["flags"] == ["sms_opt_out"] and conv["messages"][0]["text"] == "STOP"
    assert conv["queue"] is None and conv["reply_tracking"]["state"] == "none"
    help_ = await post_signed(client, SMS, sms_params(sid("SM"), body="HELP 我的钱没到账", OptOutType="HELP"))
    assert help_.status == 200
    conv = await only_conversation(client)
    assert conv["messages"][1]["flags"] == ["sms_help"]
    assert conv["queue"] == "general" and conv["reply_tracking"]["state"] == "active"


async def test_a_webhook_signed_with_a_shared_key_is_checked_with_that_key(aiohttp_client: Any, store: Store) -> None:
    key = "shared-key-secret-9f2e"
    client = await twilio_client(aiohttp_client, store, webhook_signing_key=key)
    body, fields = form(sms_params(sid("SM"), body="共享密钥签名"))
    signature = RequestValidator(key).compute_signature(PUBLIC_URL + SMS, fields, algorithm="HMAC_SHA256")
    settings = {"X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_01abc,algorithm=HMAC_SHA256"}
    base = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    assert (await client.post(SMS, data=body, headers=base)).status == 403  # not the auth token's signature
    assert (await client.post(SMS, data=body, headers={**base, **settings})).status == 200
    assert (await post_signed(client, SMS, sms_params(sid("SM")))).status == 200  # the auth token still signs
