"""Web chat signed identities over a real websocket, both stores: the site's HS256 JWT
(data-user-jwt) makes the visitor the contact user:<sub>, verified (jwt), joined to the
contact owning its email or phone; bad, expired, unsigned or foreign tokens get a clear
error frame; a signed visitor's token is useless without the signature; clock skew."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.channels.test_webchat import ORIGIN, Visitor, conversation_of
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, OPS_TOKEN, auth, gateway_config, signed_api_body
from tests.verification.support import call

SECRET = "site-signing-secret-for-tests-7c1d"
EMAIL = "chen.jing@example.com"


def user_jwt(secret: str = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    body = {"sub": "shop-user-42", "exp": int(time.time()) + 600, "name": "陈静", **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm=algorithm)


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def make_chat(aiohttp_client: Any, store: Store, publisher: MemoryPublisher) -> Callable[..., Awaitable[TestClient]]:
    async def make(verification: dict[str, Any] | None = None, **sections: Any) -> TestClient:
        config = gateway_config(
            channels={"api": {"secret": API_SECRET}, "webchat": {"allowed_origins": [ORIGIN]}},
            verification=verification if verification is not None else {"webchat_jwt_secret": SECRET},
            **sections,
        )
        return await aiohttp_client(build_app(config, store=store, publisher=publisher))

    return make


async def contact_of(client: TestClient, contact_id: str) -> dict[str, Any]:
    return await (await client.get(f"/api/v1/contacts/{contact_id}", headers=auth())).json()


async def refused(tab: Visitor, **hello: Any) -> dict[str, Any]:
    await tab.open()
    await tab.frame(type="hello", **hello)
    error = await tab.next("error")
    assert tab.ws is not None
    msg = await tab.ws.receive(timeout=30)
    assert tab.ws.close_code == 4401, msg
    return error


async def test_a_signed_visitor_is_the_sites_user_verified_and_joined_by_email(
    make_chat: Callable[..., Awaitable[TestClient]], publisher: MemoryPublisher
) -> None:
    chat = await make_chat()
    body, headers = signed_api_body(
        {"id": "crm-1", "from": {"id": "u-7", "email": "Chen.Jing@Example.com"}, "text": "hi"}
    )
    crm_conv = (await (await chat.post("/webhooks/api", data=body, headers=headers)).json())["conversation_id"]
    crm = (await call(chat, "GET", f"/api/v1/conversations/{crm_conv}", OPS_TOKEN))[1]
    tab = Visitor(chat)
    welcome = await tab.hello(user_jwt=user_jwt(email=EMAIL, phone="+8613800138000"))
    assert welcome["visitor_id"].startswith("u_")
    await tab.say("s-1", "我要改绑手机")
    conv = await conversation_of(chat, tab.visitor_id)
    assert conv["contact_id"] == crm["contact_id"]  # the signed email joined the CRM's contact
    assert conv["verification"]["state"] == "verified" and conv["verification"]["method"] == "jwt"
    contact = await contact_of(chat, conv["contact_id"])
    keys = {f"{i['kind']}:{i['value']}" for i in contact["identities"]}
    assert {"user:shop-user-42", f"email:{EMAIL}", "phone:+8613800138000", f"webchat:{tab.visitor_id}"} <= keys
    assert contact["name"] == "陈静"
    [event] = await eventually(
        lambda: [json.loads(o.body) for o in publisher.events if o.routing_key == "verification.succeeded"] or None
    )
    assert event["method"] == "jwt" and event["contact_id"] == conv["contact_id"]
    await tab.say("s-2", "还在吗")  # more messages: no second event while it is valid
    await tab.until_pong()
    assert len([o for o in publisher.events if o.routing_key == "verification.succeeded"]) == 1

    other_device = Visitor(chat)
    again = await other_device.hello(user_jwt=user_jwt())
    assert again["visitor_id"] == tab.visitor_id  # the same user everywhere …
    history = (await other_device.next("history"))["messages"]
    assert [m["text"] for m in history] == ["我要改绑手机", "还在吗"]  # … with their history

    signed_out = Visitor(chat)  # the same browser after the user signed out: the token alone
    await signed_out.open()
    await signed_out.frame(type="hello", token=welcome["token"])
    assert (await signed_out.next("error"))["code"] == "invalid_token"


async def test_bad_and_expired_signed_identities_get_a_clear_error(
    make_chat: Callable[..., Awaitable[TestClient]],
) -> None:
    chat = await make_chat()
    now = int(time.time())
    expired = await refused(Visitor(chat), user_jwt=user_jwt(exp=now - 120))
    assert expired["code"] == "expired_user_jwt" and "expired" in expired["message"]
    skewed = Visitor(chat)  # 10 s past exp: within the default 30 s of clock skew
    assert (await skewed.hello(user_jwt=user_jwt(exp=now - 10)))["visitor_id"].startswith("u_")
    cases = {
        "wrong key": user_jwt(secret="someone-elses-secret-000000000000"),
        "no exp": user_jwt(exp=None),
        "no sub": user_jwt(sub=None),
        "sub with spaces": user_jwt(sub="a b"),
        "HS512": user_jwt(secret=SECRET * 2, algorithm="HS512"),
        "unsigned": jwt.encode({"sub": "x", "exp": now + 60}, key=None, algorithm="none"),
        "not a jwt": "hello",
        "bad email": user_jwt(email="not-an-address"),
        "not yet valid": user_jwt(nbf=now + 600),
    }
    for what, token in cases.items():
        error = await refused(Visitor(chat), user_jwt=token)
        assert error["code"] == "invalid_user_jwt", what
        assert "data-user-jwt" in error["message"] or "signed identity" in error["message"], what
    listing = (await call(chat, "GET", "/api/v1/conversations", OPS_TOKEN))[1]
    assert listing["conversations"] == []


async def test_clock_skew_is_configurable(make_chat: Callable[..., Awaitable[TestClient]]) -> None:
    chat = await make_chat({"webchat_jwt_secret": SECRET, "jwt_leeway": "0s"})
    error = await refused(Visitor(chat), user_jwt=user_jwt(exp=int(time.time()) - 5))
    assert error["code"] == "expired_user_jwt"


async def test_without_a_secret_a_signed_identity_is_refused(make_chat: Callable[..., Awaitable[TestClient]]) -> None:
    chat = await make_chat({})
    error = await refused(Visitor(chat), user_jwt=user_jwt())
    assert error["code"] == "invalid_user_jwt"
    plain = Visitor(chat)
    await plain.hello(email=EMAIL)  # an unsigned visitor chats as always
    await plain.say("p-1", "hi")
    conv = await conversation_of(chat, plain.visitor_id)
    assert conv["verification"]["state"] == "none"
    contact = await contact_of(chat, conv["contact_id"])
    assert contact["attributes"]["claimed_email"] == EMAIL


async def test_a_signed_visitor_is_not_held_for_verification(
    make_chat: Callable[..., Awaitable[TestClient]], publisher: MemoryPublisher, tmp_path: Path
) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text(
        "version: 1\nqueues:\n  identity: {requires_verification: true}\ndefaults:\n  targets: [{queue: identity}]\n",
        encoding="utf-8",
    )
    chat = await make_chat(routing={"rules": str(rules)})
    tab = Visitor(chat)
    await tab.hello(user_jwt=user_jwt())
    await tab.say("h-1", "改手机号")
    [offer] = await eventually(lambda: publisher.queues.get("identity") or None)
    conv = await conversation_of(chat, tab.visitor_id)
    assert json.loads(offer.body)["conversation_id"] == conv["id"] and "verification_hold" not in conv["flags"]


def test_the_signing_secret_must_be_long_enough() -> None:
    from gateway.config import ConfigError

    with pytest.raises(ConfigError, match=r"verification\.webchat_jwt_secret"):
        gateway_config(verification={"webchat_jwt_secret": "short-secret"})


async def test_the_customer_answers_a_code_in_the_widget(
    aiohttp_client: Any, aiohttp_server: Any, store: Store, publisher: MemoryPublisher
) -> None:
    from tests.channels.twilio_helpers import OUR_NUMBER, fake_twilio, twilio_section
    from tests.verification.support import assert_nowhere, code_from, settle, sms_bodies

    twilio, twilio_url = await fake_twilio(aiohttp_server)
    config = gateway_config(
        channels={
            "api": {"secret": API_SECRET},
            "webchat": {"allowed_origins": [ORIGIN]},
            "twilio": twilio_section(api_base_url=twilio_url, from_number=OUR_NUMBER),
        },
        verification={"webchat_jwt_secret": SECRET, "secret": "widget-answer-code-key"},
    )
    chat = await aiohttp_client(build_app(config, store=store, publisher=publisher))
    tab = Visitor(chat)
    await tab.hello(user_jwt=user_jwt(phone="+8613800138000"))
    await tab.say("q-1", "我要修改登录密码")
    conv = await conversation_of(chat, tab.visitor_id)
    status, body = await call(chat, "POST", f"/api/v1/conversations/{conv['id']}/verify", ALICE_TOKEN, json={})
    assert status == 202 and body["via"] == "sms", body  # a code as well, on another channel
    await settle(chat)
    code = code_from((await eventually(lambda: sms_bodies(twilio, "+8613800138000") or None))[0])
    await tab.say("q-2", f"{code[:3]}-{code[3:]}")
    conv = await conversation_of(chat, tab.visitor_id)
    assert conv["verification"]["state"] == "verified" and conv["verification"]["method"] == "sms"
    assert conv["messages"][-1]["text"] == "[verification code: correct]"
    await settle(chat)
    told = await tab.message(**{"from": "agent"})
    assert "验证成功" in told["text"]
    await assert_nowhere(code, chat, store, publisher, type("NoLogs", (), {"records": []})())
