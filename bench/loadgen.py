"""A webhook load generator that behaves like a provider and keeps the books.

It sends signed API-channel (or Twilio-form) webhooks, each with a unique provider id,
optionally several copies at once (a redelivery storm), and retries what was not
acknowledged, as providers do. It records, per id, whether and how it was acknowledged,
so fault tests reconcile by id rather than by counts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp


@dataclass
class Outcome:
    status: int = 0  # the last HTTP status seen (0 = no answer)
    conversation_id: str | None = None  # "" when acknowledged by an answer without ids (TwiML)
    message_id: str | None = None
    acked_after: float | None = None  # seconds from the first send to the 200
    attempts: int = 0


@dataclass
class LoadResult:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)  # every answer, including retries

    @property
    def acked(self) -> dict[str, Outcome]:
        return {k: o for k, o in self.outcomes.items() if o.conversation_id is not None}

    def latencies(self) -> list[float]:
        return sorted(o.acked_after for o in self.outcomes.values() if o.acked_after is not None)

    def percentile(self, p: float) -> float | None:
        values = self.latencies()
        if not values:
            return None
        return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def api_request(secret: str, external_id: str, user: str, text: str) -> tuple[str, bytes, dict[str, str]]:
    body = json.dumps({"id": external_id, "from": {"id": user}, "text": text}, ensure_ascii=False).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return "/webhooks/api", body, {"X-Gateway-Signature": signature, "Content-Type": "application/json"}


def twilio_request(
    auth_token: str, public_url: str, external_id: str, user: str, text: str, *, to: str = "+15550001111"
) -> tuple[str, bytes, dict[str, str]]:
    """A Twilio SMS webhook signed as Twilio does (URL + sorted params, HMAC-SHA1, base64)."""
    params = {
        "MessageSid": external_id,
        "AccountSid": "AC" + "0" * 32,
        "From": user,
        "To": to,
        "Body": text,
        "NumMedia": "0",
    }
    url = public_url + "/webhooks/twilio/sms"
    signed = url + "".join(k + params[k] for k in sorted(params))
    signature = base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    return (
        "/webhooks/twilio/sms",
        urlencode(params).encode(),
        {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )


RequestFactory = Callable[[str, int], tuple[str, bytes, dict[str, str]]]


class WebhookLoad:
    """Send ``count`` distinct webhooks.

    ``rate`` (per second) makes it open-loop: request i starts at i / rate whatever the
    answers; without it, ``concurrency`` workers send back to back (closed loop).
    ``copies`` sends each webhook that many times at once, spread over the targets.
    Unacknowledged webhooks are
    retried every ``retry_every`` seconds until ``give_up_after``.
    """

    def __init__(
        self,
        targets: list[str],
        make_request: RequestFactory,
        *,
        count: int,
        prefix: str,
        rate: float | None = None,
        concurrency: int = 64,
        copies: int = 1,
        retry_every: float = 0.5,
        give_up_after: float = 60.0,
        timeout: float = 10.0,
    ) -> None:
        self.targets = targets
        self.make_request = make_request
        self.count = count
        self.prefix = prefix
        self.rate = rate
        self.concurrency = concurrency
        self.copies = copies
        self.retry_every = retry_every
        self.give_up_after = give_up_after
        self.timeout = timeout
        self.result = LoadResult()

    async def _send_once(
        self, session: aiohttp.ClientSession, base: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, Any]:
        try:
            async with session.post(base + path, data=body, headers=headers) as resp:
                data = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError):
            return 0, None
        self.result.statuses[status] = self.result.statuses.get(status, 0) + 1
        if status != 200:
            return status, None
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        # Providers such as Twilio get TwiML, not ids: the 200 is the acknowledgement.
        return status, answer if isinstance(answer, dict) else {}

    async def _deliver(self, session: aiohttp.ClientSession, index: int) -> None:
        external_id = f"{self.prefix}-{index}"
        outcome = self.result.outcomes.setdefault(external_id, Outcome())
        path, body, headers = self.make_request(external_id, index)
        first = time.perf_counter()
        deadline = first + self.give_up_after
        attempt = 0
        while True:
            # The copies of one delivery go to different gateways when there are several, as
            # a provider's retries behind a load balancer do.
            bases = [self.targets[(index + attempt + copy) % len(self.targets)] for copy in range(self.copies)]
            attempt += 1
            outcome.attempts = attempt
            answers = await asyncio.gather(*(self._send_once(session, base, path, body, headers) for base in bases))
            for status, data in answers:
                outcome.status = status
                if status == 200 and data is not None:
                    conversation_id = data.get("conversation_id", "")
                    if outcome.conversation_id not in (None, conversation_id):
                        raise AssertionError(
                            f"{external_id}: two conversations {outcome.conversation_id} and {conversation_id}"
                        )
                    outcome.conversation_id = conversation_id
                    outcome.message_id = data.get("message_id") or outcome.message_id
                    if outcome.acked_after is None:
                        outcome.acked_after = time.perf_counter() - first
            if outcome.acked_after is not None or time.perf_counter() > deadline:
                return
            await asyncio.sleep(self.retry_every)

    async def run(self) -> LoadResult:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self.result.started = time.perf_counter()
            if self.rate:
                start = time.perf_counter()
                tasks = []
                for i in range(self.count):
                    delay = start + i / self.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(self._deliver(session, i)))
                await asyncio.gather(*tasks)
            else:
                queue: asyncio.Queue[int] = asyncio.Queue()
                for i in range(self.count):
                    queue.put_nowait(i)

                async def worker() -> None:
                    while not queue.empty():
                        await self._deliver(session, queue.get_nowait())

                await asyncio.gather(*(worker() for _ in range(self.concurrency)))
            self.result.finished = time.perf_counter()
        return self.result
