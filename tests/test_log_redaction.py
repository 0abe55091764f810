"""A real gateway's log, after good and bad traffic on every channel, holds no secret and no
card number."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import aiohttp

from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, OPS_TOKEN, signed_api_body
from tests.processes import GatewayProcess, process_config

SECRETS = {
    "twilio_token": "twilio-auth-secret-8a7b6c",
    "wa_app": "whatsapp-app-secret-1f2e3d",
    "wa_verify": "whatsapp-verify-secret-4c5b",
    "wa_access": "whatsapp-access-secret-9e8d",
    "fb_app": "messenger-app-secret-7a6b",
    "fb_verify": "messenger-verify-secret-2d3c",
    "fb_page": "messenger-page-secret-5f4e",
    "tg_bot": "123456:telegram-bot-secret-0a1b",
    "tg_secret": "telegram-webhook-secret-6c7d",
    "wc_token": "wechat-token-secret-3e2f",
    "wc_app": "wechat-app-secret-8b9a",
    "relay_pw": "relay-password-secret-4d5e",
}
CARD = "4111 1111 1111 1111"


def config(dead_port: int) -> dict:
    base = f"http://127.0.0.1:{dead_port}"
    return process_config(
        storage_url="memory://",
        prefix="gw",
        broker_url="memory://",
        channels={
            "api": {"secret": API_SECRET, "callback_url": f"{base}/crm?token={SECRETS['wa_access']}"},
            "twilio": {"account_sid": "AC" + "1" * 32, "auth_token": SECRETS["twilio_token"], "api_base_url": base},
            "whatsapp": {
                "app_secret": SECRETS["wa_app"],
                "verify_token": SECRETS["wa_verify"],
                "access_token": SECRETS["wa_access"],
                "phone_number_id": "1065551234",
                "api_base_url": base,
            },
            "messenger": {
                "app_secret": SECRETS["fb_app"],
                "verify_token": SECRETS["fb_verify"],
                "page_access_token": SECRETS["fb_page"],
                "api_base_url": base,
            },
            "telegram": {"bot_token": SECRETS["tg_bot"], "secret_token": SECRETS["tg_secret"], "api_base_url": base},
            "wechat": {
                "token": SECRETS["wc_token"],
                "app_id": "wx123",
                "app_secret": SECRETS["wc_app"],
                "api_base_url": base,
            },
            "email": {
                "relay": {"host": "127.0.0.1", "port": dead_port, "username": "u", "password": SECRETS["relay_pw"]}
            },
        },
        log={"level": "DEBUG"},
    )


async def test_no_secret_or_card_number_reaches_the_log(tmp_path: Path) -> None:
    from tests.servers import free_port

    gw = GatewayProcess(config(free_port()), tmp_path, "redaction").start()
    try:
        async with aiohttp.ClientSession() as http:
            body, headers = signed_api_body({"id": "r1", "from": {"id": "u1"}, "text": f"卡号 {CARD} 付款失败"})
            async with http.post(f"{gw.url}/webhooks/api", data=body, headers=headers) as resp:
                cid = (await resp.json())["conversation_id"]
            # Bad signatures and tokens everywhere.
            await http.post(f"{gw.url}/webhooks/api", data=body, headers={"X-Gateway-Signature": "sha256=00"})
            await http.post(f"{gw.url}/webhooks/twilio/sms", data={"Body": CARD}, headers={"X-Twilio-Signature": "x"})
            await http.post(f"{gw.url}/webhooks/whatsapp", data=b"{}", headers={"X-Hub-Signature-256": "sha256=00"})
            await http.post(
                f"{gw.url}/webhooks/telegram", json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": "no"}
            )
            await http.get(f"{gw.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")
            # A Telegram customer, then replies that fail against a dead provider (URLs carry tokens).
            update = {
                "update_id": 777,
                "message": {"message_id": 5, "date": 1_800_000_000, "text": f"card {CARD}",
                            "chat": {"id": 42, "type": "private"}, "from": {"id": 42, "first_name": "Li"}},
            }  # fmt: skip
            async with http.post(
                f"{gw.url}/webhooks/telegram",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRETS["tg_secret"]},
            ) as resp:
                assert resp.status == 200
            auth = {"Authorization": f"Bearer {ALICE_TOKEN}"}
            listing = await (await http.get(f"{gw.url}/api/v1/conversations", headers=auth)).json()
            for conv in listing["conversations"]:
                await http.post(
                    f"{gw.url}/api/v1/conversations/{conv['id']}/messages",
                    json={"text": f"your card {CARD}"},
                    headers=auth,
                )
            assert cid and len(listing["conversations"]) == 2

            def failures_logged() -> bool:  # each reply's failing attempt, with the provider URL's error
                log = gw.log()
                return log.count('"event": "send retry"') + log.count('"event": "send failed"') >= 2

            await eventually(failures_logged, timeout=60)
    finally:
        gw.stop()
    log = gw.log()
    for name, secret in {**SECRETS, "api": API_SECRET, "ops": OPS_TOKEN, "alice": ALICE_TOKEN}.items():
        assert secret not in log, f"{name} secret in the log"
    assert CARD not in log and CARD.replace(" ", "") not in log
    signature = hmac.new(API_SECRET.encode(), b"x", hashlib.sha256).hexdigest()
    assert signature not in log


def test_the_scrubber_masks_secrets_and_cards_in_messages_extras_and_tracebacks(capsys) -> None:  # type: ignore[no-untyped-def]
    import logging

    from gateway import logs

    logs.configure("INFO", "json", secrets=["bot-token-secret-77"])
    log = logging.getLogger("scrub-test")
    log.warning(
        "POST https://api.telegram.org/botbot-token-secret-77/sendMessage %s",
        CARD,
        extra={"error": "x bot-token-secret-77"},
    )
    try:
        raise RuntimeError("failed with bot-token-secret-77")
    except RuntimeError:
        log.exception("send crashed")
    err = capsys.readouterr().err
    assert "bot-token-secret-77" not in err and CARD not in err
    assert "bot***/sendMessage" in err and "**** **** **** 1111" in err and "failed with ***" in err
    logging.getLogger().handlers.clear()
