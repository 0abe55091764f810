"""The support phone line: menu, choice, voicemail, transcription, missed calls; one contact
per phone number across SMS and voice; the offer reaching real RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.model import RoutingContext, RoutingDecision
from gateway.routing.publisher import AmqpPublisher
from gateway.routing.router import SingleQueueRouter
from gateway.storage import RedisStore
from gateway.storage.base import Store
from gateway.wiring.services import SERVICES
from tests.channels.twilio_helpers import (
    CUSTOMER,
    OUR_NUMBER,
    PUBLIC_URL,
    FakeTwilio,
    all_conversations,
    call_params,
    conversation,
    fake_twilio,
    only_conversation,
    post_signed,
    recording_url,
    sid,
    sms_params,
    twilio_client,
    twiml,
)
from tests.conftest import REDIS_URL, drop_prefix, eventually, take_all, unique_prefix
from tests.helpers import ALICE_TOKEN, auth

VOICE = "/webhooks/twilio/voice"


class SpyRouter(SingleQueueRouter):
    """Routes like the default and remembers what each decision was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[RoutingContext] = []

    def decide(self, ctx: RoutingContext) -> RoutingDecision:
        self.seen.append(ctx)
        return super().decide(ctx)


@pytest.fixture
async def client(aiohttp_client: Any, store: Store) -> TestClient:
    return await twilio_client(aiohttp_client, store)


async def xml_of(resp: Any, status: int = 200) -> ET.Element:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "text/xml"
    return twiml(await resp.text())


async def call_reaches_voicemail(client: TestClient, call_sid: str, **choice: str) -> ET.Element:
    """Call in, answer the menu with ``choice`` (Digits or SpeechResult): the <Record> TwiML."""
    await xml_of(await post_signed(client, VOICE, call_params(call_sid)))
    return await xml_of(await post_signed(client, f"{VOICE}/menu?attempt=1", call_params(call_sid, **choice)))


def recording_params(call_sid: str, recording_sid: str, *, duration: str = "23") -> list[tuple[str, str]]:
    return call_params(
        call_sid,
        RecordingUrl=recording_url(recording_sid),
        RecordingDuration=duration,
        RecordingSid=recording_sid,
        Digits="#",
    )


def transcription_params(call_sid: str, recording_sid: str, transcription_sid: str, text: str) -> list[tuple[str, str]]:
    return call_params(
        call_sid,
        TranscriptionSid=transcription_sid,
        TranscriptionText=text,
        TranscriptionStatus="completed",
        TranscriptionUrl=f"https://api.twilio.com/2010-04-01/Accounts/AC1/Transcriptions/{transcription_sid}",
        RecordingSid=recording_sid,
        RecordingUrl=recording_url(recording_sid),
        CallStatus="completed",
    )


async def test_a_call_is_answered_with_a_bilingual_menu_listening_for_keys_and_speech(client: TestClient) -> None:
    root = await xml_of(await post_signed(client, VOICE, call_params(sid("CA"))))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("input") == "dtmf speech" and gather.get("numDigits") == "1"
    assert gather.get("action") == f"{PUBLIC_URL}{VOICE}/menu?attempt=1" and gather.get("method") == "POST"
    assert "退款" in gather.get("hints", "") and "refund" in gather.get("hints", "")
    zh, en = gather.findall("Say")
    assert zh.get("language") == "cmn-CN" and en.get("language") == "en-US"
    assert "付款问题请按1" in (zh.text or "") and "留言请按0" in (zh.text or "")
    assert "For payments, press 1." in (en.text or "") and "To leave a message, press 0." in (en.text or "")
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text == gather.get("action")  # silence → menu step without input
    assert await all_conversations(client) == []  # nothing to store until the caller chooses


async def test_the_voice_flow_end_to_end_is_one_conversation_on_one_contact(client: TestClient) -> None:
    spy = SpyRouter()
    client.app[SERVICES].router.current = spy
    call, recording, transcription = sid("CA"), sid("RE"), sid("TR")
    root = await call_reaches_voicemail(client, call, Digits="1")
    record = root.find("Record")
    assert record is not None and record.get("transcribe") == "true" and record.get("maxLength") == "120"
    assert [s.get("language") for s in root.findall("Say")][:2] == ["cmn-CN", "en-US"]
    assert root.find("Hangup") is not None  # after an empty recording (no action request)

    # The call is stored at once, its choice a conversation attribute that routing saw.
    conv = await only_conversation(client)
    assert conv["channel"] == "voice" and conv["endpoint"] == OUR_NUMBER
    assert conv["attributes"] == {"menu": "payments"}
    assert conv["messages"][0]["text"] == "Incoming call, chose 1 payments (付款问题)"
    assert conv["messages"][0]["external_id"] == call
    assert spy.seen[-1].attributes == {"menu": "payments"}

    goodbye = await xml_of(await post_signed(client, record.get("action", ""), recording_params(call, recording)))
    assert goodbye.find("Hangup") is not None and "谢谢您的留言" in ET.tostring(goodbye, encoding="unicode")
    status_params = [
        ("AccountSid", "AC1"),
        ("CallSid", call),
        ("RecordingSid", recording),
        ("RecordingUrl", recording_url(recording)),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "23"),
    ]
    await xml_of(await post_signed(client, record.get("recordingStatusCallback", ""), status_params))  # same voicemail
    said = "Hi, my card payment failed twice and I was charged. Please call me back."
    params = transcription_params(call, recording, transcription, said)
    for _ in range(2):  # redelivered: still one transcript
        await xml_of(await post_signed(client, record.get("transcribeCallback", ""), params))

    conv = await only_conversation(client)
    texts = [m["text"] for m in conv["messages"]]
    assert texts == [
        "Incoming call, chose 1 payments (付款问题)",
        "Voicemail (23 s)",
        f"Voicemail transcription: {said}",
    ]
    voicemail = conv["messages"][1]
    assert voicemail["external_id"] == recording
    assert voicemail["attachments"] == [
        {
            "url": recording_url(recording),
            "media_id": recording,
            "content_type": "audio/wav",
            "name": f"{recording}.wav",
            "size": None,
            "storage_key": None,
        }
    ]
    assert conv["messages"][2]["external_id"] == transcription
    assert {m["sender"]["id"] for m in conv["messages"]} == {f"phone:{CUSTOMER}"}
    assert [f"{i['kind']}:{i['value']}" for i in conv["contact"]["identities"]] == [f"phone:{CUSTOMER}"]
    assert conv["attributes"] == {"menu": "payments"}


async def test_sms_and_a_call_from_one_number_are_one_contact(client: TestClient) -> None:
    assert (await post_signed(client, "/webhooks/twilio/sms", sms_params(body="付款失败了"))).status == 200
    await call_reaches_voicemail(client, sid("CA"), Digits="3")
    conversations = await all_conversations(client)
    assert sorted(c["channel"] for c in conversations) == ["sms", "voice"]
    assert len({c["contact_id"] for c in conversations}) == 1
    contact = await (await client.get(f"/api/v1/contacts/{conversations[0]['contact_id']}", headers=auth())).json()
    assert [f"{i['kind']}:{i['value']}" for i in contact["identities"]] == [f"phone:{CUSTOMER}"]
    assert len(contact["conversations"]) == 2


async def test_a_spoken_chinese_choice_picks_its_option(client: TestClient) -> None:
    spy = SpyRouter()
    client.app[SERVICES].router.current = spy
    root = await call_reaches_voicemail(client, sid("CA"), SpeechResult="我要退款。", Confidence="0.91")
    assert "topic=refunds" in root.find("Record").get("action", "")  # type: ignore[union-attr]
    conv = await only_conversation(client)
    assert conv["attributes"] == {"menu": "refunds"}
    assert conv["messages"][0]["text"] == "Incoming call, chose 3 refunds (退款), saying “我要退款。”"
    assert conv["messages"][0]["meta"]["speech_confidence"] == "0.91"
    assert spy.seen[-1].language_hint == "zh"


async def test_silence_or_a_wrong_key_reprompts_then_goes_to_voicemail_without_a_choice(client: TestClient) -> None:
    call = sid("CA")
    await post_signed(client, VOICE, call_params(call))
    again = await xml_of(await post_signed(client, f"{VOICE}/menu?attempt=1", call_params(call, Digits="7")))
    gather = again.find("Gather")
    assert gather is not None and gather.get("action", "").endswith("/menu?attempt=2")
    assert "抱歉，没有听清您的选择" in ET.tostring(gather, encoding="unicode")
    assert await all_conversations(client) == []
    last = await xml_of(await post_signed(client, f"{VOICE}/menu?attempt=2", call_params(call)))
    assert last.find("Record") is not None and "topic" not in last.find("Record").get("action", "")  # type: ignore[union-attr]
    conv = await only_conversation(client)
    assert conv["messages"][0]["text"] == "Incoming call, no menu choice" and conv["attributes"] == {}


async def test_the_menu_step_delivered_twice_at_once_stores_one_call(client: TestClient) -> None:
    call = sid("CA")
    params = call_params(call, Digits="2")
    responses = await asyncio.gather(*(post_signed(client, f"{VOICE}/menu?attempt=1", params) for _ in range(2)))
    for resp in responses:
        assert (await xml_of(resp)).find("Record") is not None
    conv = await only_conversation(client)
    assert [m["external_id"] for m in conv["messages"]] == [call] and conv["attributes"] == {"menu": "account"}


async def test_a_call_that_ends_before_a_choice_is_kept_as_a_missed_call(client: TestClient) -> None:
    missed, answered = sid("CA"), sid("CA")
    ended = {"CallStatus": "completed", "CallDuration": "9"}
    await post_signed(client, VOICE, call_params(missed))
    await xml_of(await post_signed(client, f"{VOICE}/status", call_params(missed, **ended)))
    await call_reaches_voicemail(client, answered, Digits="1")
    await xml_of(await post_signed(client, f"{VOICE}/status", call_params(answered, **ended)))  # already there
    await xml_of(await post_signed(client, f"{VOICE}/status", call_params(sid("CA"), CallStatus="ringing")))
    [conv] = await all_conversations(client)
    texts = [m["text"] for m in (await conversation(client, conv["id"]))["messages"]]
    assert texts == [
        "Missed call: the caller hung up before choosing from the menu, 9 s",
        "Incoming call, chose 1 payments (付款问题)",
    ]


async def test_a_withheld_number_is_told_so_and_nothing_is_stored(client: TestClient) -> None:
    for withheld in ("+266696687", "Anonymous", "+86282452253", "sip:alice@example.com"):
        root = await xml_of(await post_signed(client, VOICE, call_params(sid("CA"), caller=withheld)))
        assert root.find("Gather") is None and root.find("Hangup") is not None
        assert "隐藏号码" in ET.tostring(root, encoding="unicode")
    assert await all_conversations(client) == []


async def test_an_empty_recording_or_a_failed_transcription_stores_nothing(client: TestClient) -> None:
    call, recording = sid("CA"), sid("RE")
    record = (await call_reaches_voicemail(client, call, Digits="0")).find("Record")
    assert record is not None
    root = await xml_of(
        await post_signed(client, record.get("action", ""), recording_params(call, recording, duration="0"))
    )
    assert "没有收到您的留言" in ET.tostring(root, encoding="unicode")
    failed = [
        (k, "failed" if k == "TranscriptionStatus" else v)
        for k, v in transcription_params(call, recording, sid("TR"), "")
    ]
    await xml_of(await post_signed(client, record.get("transcribeCallback", ""), failed))
    conv = await only_conversation(client)
    assert [m["text"] for m in conv["messages"]] == ["Incoming call, chose 0 leave a message (留言)"]
    assert conv["attributes"] == {"menu": "voicemail"}


async def test_the_recording_status_callback_alone_stores_the_voicemail_with_its_topic(client: TestClient) -> None:
    """As when storage was down during the call: the callback carries caller and topic."""
    call, recording = sid("CA"), sid("RE")
    record = (await call_reaches_voicemail(client, call, Digits="2")).find("Record")
    assert record is not None
    url = record.get("recordingStatusCallback", "")
    assert "from=%2B8613800138000" in url and "topic=account" in url
    params = [
        ("CallSid", call),
        ("RecordingSid", recording),
        ("RecordingUrl", recording_url(recording) + ".mp3"),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "41"),
    ]
    await xml_of(await post_signed(client, url, params))
    conv = await only_conversation(client)
    voicemail = conv["messages"][-1]
    assert voicemail["text"] == "Voicemail (41 s)" and voicemail["attachments"][0]["content_type"] == "audio/mpeg"
    assert voicemail["sender"]["id"] == f"phone:{CUSTOMER}"
    tampered = url.replace("topic=account", "topic=vip")
    assert (await post_signed(client, tampered, params, signed_url=url)).status == 403


async def test_voice_requests_must_be_signed_and_well_formed(client: TestClient) -> None:
    for path in (VOICE, f"{VOICE}/menu", f"{VOICE}/recording", f"{VOICE}/transcription", f"{VOICE}/status"):
        resp = await client.post(path, data={"CallSid": sid("CA"), "From": CUSTOMER, "Digits": "1"})
        await xml_of(resp, 401)
    resp = await post_signed(client, VOICE, [(k, v) for k, v in call_params("x") if k != "CallSid"])
    await xml_of(resp, 422)
    assert await all_conversations(client) == []


async def test_a_reply_to_a_voicemail_goes_out_as_sms_and_its_status_comes_back(
    aiohttp_client: Any, aiohttp_server: Any, store: Store
) -> None:
    fake, base = await fake_twilio(aiohttp_server)
    client = await twilio_client(aiohttp_client, store, api_base_url=base)
    await call_reaches_voicemail(client, sid("CA"), Digits="2")
    cid = (await only_conversation(client))["id"]
    resp = await client.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": "您好，密码已重置"}, headers=auth(ALICE_TOKEN)
    )
    assert resp.status == 202
    await eventually(lambda: fake.received)
    fields = fake.received[0][1]
    assert fields["To"] == CUSTOMER and fields["From"] == OUR_NUMBER
    assert fields["StatusCallback"] == f"{PUBLIC_URL}/webhooks/twilio/status?channel=voice"
    assert fake.received[0][0] == FakeTwilio.basic_auth()

    async def status() -> str:
        return (await conversation(client, cid))["messages"][-1]["status"]

    await eventually(lambda: _equals(status(), "sent"))
    params = [("MessageSid", fake.sids[0]), ("MessageStatus", "delivered"), ("To", CUSTOMER)]
    assert (await post_signed(client, fields["StatusCallback"], params)).status == 200
    await eventually(lambda: _equals(status(), "delivered"))


async def _equals(awaitable: Any, value: Any) -> bool:
    return (await awaitable) == value


@pytest.mark.redis
@pytest.mark.rabbitmq
async def test_a_chosen_call_is_offered_through_real_rabbitmq(
    aiohttp_client: Any, amqp_url: str, work_queue: str
) -> None:
    prefix = unique_prefix()
    store = RedisStore(REDIS_URL, prefix=prefix)
    publisher = AmqpPublisher(amqp_url)
    try:
        client = await twilio_client(aiohttp_client, store, publisher=publisher, default_queue=work_queue)
        await eventually(publisher.ready, timeout=30)
        await call_reaches_voicemail(client, sid("CA"), Digits="1")
        cid = (await only_conversation(client))["id"]
        [message] = await eventually(lambda: take_all(amqp_url, work_queue), timeout=30)
        offer = json.loads(message.body)
        assert offer["type"] == "conversation.offer" and offer["channel"] == "voice"
        assert offer["conversation_id"] == cid and offer["preview"] == "Incoming call, chose 1 payments (付款问题)"
    finally:
        await store.close()
        await drop_prefix(prefix)


async def test_the_menu_text_choices_and_attribute_come_from_config(aiohttp_client: Any, store: Store) -> None:
    voice = {
        "attribute": "ivr_topic",
        "greeting_zh": "欢迎致电钱包客服。",
        "greeting_en": "Welcome to Wallet support.",
        "options": [
            {
                "digit": "5",
                "topic": "disputes",
                "label_zh": "争议交易",
                "label_en": "disputed charges",
                "keywords": ["争议", "dispute"],
            },
            {"digit": "*", "topic": "voicemail", "label_zh": "留言", "label_en": "a message"},
        ],
        "max_recording_seconds": 60,
        "transcribe": False,
    }
    client = await twilio_client(aiohttp_client, store, voice=voice)
    root = await xml_of(await post_signed(client, VOICE, call_params(sid("CA"))))
    zh, en = root.find("Gather").findall("Say")  # type: ignore[union-attr]
    assert zh.text == "欢迎致电钱包客服。争议交易请按5。留言请按星号键。"
    assert en.text == "Welcome to Wallet support. For disputed charges, press 5. For a message, press star."
    record = (await call_reaches_voicemail(client, sid("CA"), SpeechResult="I want to dispute a charge")).find("Record")
    assert record is not None and record.get("maxLength") == "60"
    assert record.get("transcribe") == "false" and record.get("transcribeCallback") is None
    assert (await only_conversation(client))["attributes"] == {"ivr_topic": "disputes"}


@pytest.mark.parametrize(
    "options",
    [
        [{"digit": "1", "topic": "a", "label_zh": "甲", "label_en": "a"}] * 2,
        [{"digit": "12", "topic": "a", "label_zh": "甲", "label_en": "a"}],
        [],
    ],
)
def test_a_menu_config_that_cannot_work_stops_start_up_naming_the_key(options: list[dict[str, str]]) -> None:
    from gateway.config import ConfigError, config_from_dict

    raw = {
        "channels": {"twilio": {"account_sid": "AC1", "auth_token": "real-token-1-012", "voice": {"options": options}}}
    }
    with pytest.raises(ConfigError, match=r"channels\.twilio\.voice\.options"):
        config_from_dict(raw, env={})
