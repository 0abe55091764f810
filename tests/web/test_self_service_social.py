"""Self-service and ratings on a social channel end to end, on real Redis and real RabbitMQ:
a Telegram customer's FAQ question is answered through the (fake) Bot API and not offered,
asking for a person offers the conversation, a question the FAQ cannot answer goes straight
to agents, and after the resolve the rating request goes out and the customer's score is kept."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.config import CsatConfig, FaqConfig
from gateway.routing.publisher import AmqpPublisher
from gateway.selfservice.faq_book import load_faq
from gateway.selfservice.languages import in_language
from gateway.storage import RedisStore
from gateway.wiring.services import SERVICES
from tests.channels.social_fakes import FakeProvider, Recorded, conversations_of, start_fake
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, auth, gateway_config

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED_FAQ = ROOT / "config" / "faq.yaml"
BOT_TOKEN = "7012345678:AAH-selfservice-token-3Kd"
SECRET = "tg-secret-selfservice-77a1"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
WANG = 493017265  # asks the FAQ, then for a person, then rates
LI = 582114907  # asks what the FAQ cannot answer
_updates = itertools.count(910000)
_bot_ids = itertools.count(5000)


def bot_answer(request: Recorded) -> tuple[int, Any]:
    sent = request.json
    chat = {"id": int(sent["chat_id"]), "type": "private"}
    return 200, {"ok": True, "result": {"message_id": next(_bot_ids), "chat": chat, "text": sent["text"]}}


class QueueTap:
    """Consumes this test's own work queue: every offer the gateway published to it."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.offers: list[dict[str, Any]] = []
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def start(self) -> None:
        self.connection = await aio_pika.connect_robust(self.url)
        queue = await (await self.connection.channel()).get_queue(self.name)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.offers.append(json.loads(message.body))

        await queue.consume(on_message)

    def of(self, cid: str) -> list[dict[str, Any]]:
        return [o for o in self.offers if o["conversation_id"] == cid]

    async def flush(self) -> None:
        """Every offer RabbitMQ confirmed before this call has been consumed: a marker
        published now (lowest priority, so it cannot overtake) is consumed after them."""
        assert self.connection is not None
        marker = f"marker-{uuid.uuid4().hex}"
        channel = await self.connection.channel()
        body = json.dumps({"conversation_id": marker}).encode()
        await channel.default_exchange.publish(aio_pika.Message(body), routing_key=self.name)
        await channel.close()
        await eventually(lambda: self.of(marker))
        self.offers = [o for o in self.offers if o["conversation_id"] != marker]

    async def close(self) -> None:
        if self.connection is None:
            return
        channel = await self.connection.channel()
        await channel.queue_delete(self.name)
        await self.connection.close()


async def say(client: TestClient, chat: int, text: str) -> None:
    update = {
        "update_id": next(_updates),
        "message": {
            "message_id": next(_updates) % 10000,
            "from": {"id": chat, "is_bot": False, "first_name": "客户", "language_code": "zh-hans"},
            "chat": {"id": chat, "type": "private", "first_name": "客户"},
            "date": int(time.time()),
            "text": text,
        },
    }
    resp = await client.post("/webhooks/telegram", data=json.dumps(update, ensure_ascii=False), headers=HEADERS)
    assert resp.status == 200, await resp.text()
    assert (await resp.json()) == {"ignored": False, "duplicate": False}


def sent_to(fake: FakeProvider, chat: int) -> list[str]:
    """The texts the Bot API was asked to send to ``chat``."""
    return [r.json["text"] for r in fake.to("/sendMessage") if r.json["chat_id"] == str(chat)]


async def conversation(client: TestClient, cid: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/conversations/{cid}", headers=auth())
    assert resp.status == 200
    return await resp.json()


async def quiet(client: TestClient, tap: QueueTap) -> None:
    """Due timers have run, the outbox relay has published everything it holds, and the
    tap has consumed every offer published."""
    services = client.app[SERVICES]
    await services.timers.scan_once()
    assert await services.relay.drain(30)
    await tap.flush()


async def test_a_telegram_customer_gets_the_faq_then_a_person_then_rates(
    aiohttp_client: Any, aiohttp_server: Any, redis_store: RedisStore, amqp_url: str
) -> None:
    bot = FakeProvider(bot_answer)
    queue_name = f"selfservice-social-{uuid.uuid4().hex[:8]}"  # the tap deletes it after
    publisher = AmqpPublisher(amqp_url)
    config = gateway_config(
        routing={"rules": None, "default_queue": queue_name},
        channels={
            "telegram": {
                "bot_token": BOT_TOKEN,
                "secret_token": SECRET,
                "api_base_url": await start_fake(aiohttp_server, bot),
            }
        },
        faq={"file": str(SHIPPED_FAQ)},
        csat={"enabled": True},
        reply_tracking={"scan_interval": "50ms"},
    )
    client = await aiohttp_client(build_app(config, store=redis_store, publisher=publisher))
    await eventually(publisher.ready, timeout=30)
    tap = QueueTap(amqp_url, queue_name)
    await tap.start()
    try:
        await _the_whole_story(client, redis_store, bot, tap)
    finally:
        await tap.close()


async def _the_whole_story(client: TestClient, store: RedisStore, bot: FakeProvider, tap: QueueTap) -> None:
    faq_entry = load_faq(SHIPPED_FAQ).get("reset-password")
    assert faq_entry is not None
    hint, handoff_reply = FaqConfig().hint, FaqConfig().handoff_reply
    csat = CsatConfig()

    # 1. A question the FAQ answers: the answer goes out through the Bot API, nobody is offered it.
    await say(client, WANG, "我忘记密码了，怎么重置？")
    [cid] = [c.id for c in await conversations_of(store, f"telegram:{WANG}")]
    [answer] = await eventually(lambda: bot.to("/sendMessage"))
    assert answer.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert answer.json == {"chat_id": str(WANG), "text": in_language(f"{faq_entry.answer}\n\n{hint}", "zh")}
    assert "账户安全" in answer.json["text"] and "Account security" not in answer.json["text"]
    await quiet(client, tap)
    assert tap.offers == []
    conv = await conversation(client, cid)
    assert conv["flags"] == ["self_service"] and conv["queue"] is None and conv["routing_version"] == 0
    assert conv["attributes"]["self_service"]["entries"] == ["reset-password"]
    assert [(m["direction"], m["sender"]["kind"]) for m in conv["messages"]] == [
        ("inbound", "customer"),
        ("outbound", "bot"),
    ]
    assert "faq:reset-password" in conv["messages"][1]["flags"]

    async def answer_sent() -> bool:
        return (await conversation(client, cid))["messages"][1]["status"] == "sent"

    await eventually(answer_sent)

    # 2. Asking for a person: the conversation is offered, and the customer told so.
    await say(client, WANG, "人工")
    [offer] = await eventually(lambda: tap.of(cid), timeout=30)
    assert offer["type"] == "conversation.offer" and offer["channel"] == "telegram"
    assert offer["reason"] == "new" and offer["routing_version"] == 1 and offer["preview"] == "人工"
    await eventually(lambda: len(sent_to(bot, WANG)) == 2)
    assert sent_to(bot, WANG)[1].startswith(in_language(handoff_reply, "zh") + "\n")  # then the queue
    conv = await conversation(client, cid)
    assert conv["flags"] == [] and conv["queue"] == tap.name
    assert conv["attributes"]["self_service"]["state"] == "handed_off"
    assert conv["attributes"]["self_service"]["handoff"] == "asked"

    # 3. Another customer's question the FAQ cannot answer goes straight to agents.
    await say(client, LI, "我的卡被盗刷了，快帮我")
    [other] = [c.id for c in await conversations_of(store, f"telegram:{LI}")]
    [offer] = await eventually(lambda: tap.of(other), timeout=30)
    assert offer["reason"] == "new" and offer["routing_version"] == 1 and offer["preview"] == "我的卡被盗刷了，快帮我"
    await quiet(client, tap)
    assert sent_to(bot, LI) == []  # no bot answer for it
    conv = await conversation(client, other)
    assert conv["flags"] == [] and conv["reply_tracking"]["state"] == "active" and len(conv["messages"]) == 1
    assert len(tap.of(cid)) == 1  # and nothing more for the first customer

    # 4. An agent takes the first conversation, answers and resolves it: the rating request
    #    goes out through the Bot API, and the customer's "5" is recorded without reopening.
    url = f"/api/v1/conversations/{cid}"
    claim = await client.post(f"{url}/claim", json={"routing_version": 1}, headers=auth(ALICE_TOKEN))
    assert claim.status == 200
    reply = await client.post(f"{url}/messages", json={"text": "已为您重置密码"}, headers=auth(ALICE_TOKEN))
    assert reply.status == 202
    await eventually(lambda: len(sent_to(bot, WANG)) == 3)
    assert sent_to(bot, WANG)[2] == "已为您重置密码"
    assert (await client.post(f"{url}/resolve", headers=auth(ALICE_TOKEN))).status == 200
    await eventually(lambda: len(sent_to(bot, WANG)) == 4, timeout=30)
    assert sent_to(bot, WANG)[3] == in_language(csat.prompt, "zh")

    await say(client, WANG, "5")
    await eventually(lambda: len(sent_to(bot, WANG)) == 5, timeout=30)
    assert sent_to(bot, WANG)[4] == in_language(csat.thanks, "zh")
    conv = await conversation(client, cid)
    assert conv["status"] == "resolved" and conv["attributes"]["rating"]["score"] == 5
    assert conv["attributes"]["rating"]["comment"] is None
    flags = [m["flags"] for m in conv["messages"]]
    assert sum("csat-request" in f for f in flags) == 1
    stats = await (await client.get("/api/v1/stats", headers=auth())).json()
    assert stats["ratings"]["requested"] == 1 and stats["ratings"]["responses"] == 1
    assert stats["ratings"]["distribution"]["5"] == 1
    assert stats["self_service"]["answered"] == 1 and stats["self_service"]["handed_off"] == 1
    await quiet(client, tap)
    assert [o["reason"] for o in tap.of(cid)] == ["new"]  # the score reopened nothing
