"""Claims, transfers and timed escalation: how conversations meet agents.

RabbitMQ carries offers; storage holds the truth. A claim names the routing version the
agent saw; a stale or duplicate offer is refused (409) and can be dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway import metrics
from gateway.core.outbox_payloads import offer_payload, payload
from gateway.model import Conversation
from gateway.routing.router import Router
from gateway.storage.base import DueTimer, Outcome, Store

log = logging.getLogger(__name__)


class Assignment:
    def __init__(self, *, store: Store, router: Callable[[], Router], clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.router = router
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    @staticmethod
    def _count(result: Outcome, how: str) -> Outcome:
        if result.ok and result.reason != "already":
            metrics.CLAIMS.labels(how).inc()
            if result.waited_ms is not None:
                metrics.TIME_TO_CLAIM.observe(result.waited_ms / 1000)
        return result

    async def claim(self, conversation_id: str, agent: str, version: int | None) -> Outcome:
        """Only from the queues whose skill levels the agent meets (checked where the claim commits)."""
        router = self.router()
        result = await self.store.claim(
            conversation_id,
            agent,
            version=version,
            capacity=router.agent_capacity(agent),
            now_ms=self._now_ms(),
            payload=payload("conversation.assigned"),
            queues=router.agent_queues(agent),
        )
        return self._count(result, "claim")

    async def next_for(self, agent: str) -> Outcome:
        router = self.router()
        queues = router.agent_queues(agent)
        if not queues:
            return Outcome(ok=False, reason="empty")
        result = await self.store.claim_next(
            agent,
            queues,
            capacity=router.agent_capacity(agent),
            now_ms=self._now_ms(),
            payload=payload("conversation.assigned"),
        )
        return self._count(result, "next")

    async def _preview(self, conversation_id: str) -> str:
        for message in reversed(await self.store.get_messages(conversation_id, limit=20)):
            if message.direction == "inbound":
                return message.text or message.subject or ""
        return ""

    async def transfer(
        self, conversation_id: str, queue: str, *, priority: int | None, by: str, expected_version: int | None = None
    ) -> Outcome:
        """Offer the conversation on ``queue``; with ``expected_version``, only if it was
        not re-routed since (``stale`` otherwise), so a check made on that version holds."""
        conv = await self.store.get_conversation(conversation_id)
        if conv is None:
            return Outcome(ok=False, reason="not_found")
        router = self.router()
        return await self.store.reroute(
            conversation_id,
            expected_version=expected_version,
            only_unassigned=False,
            queue=queue,
            priority=conv.priority if priority is None else priority,
            reason="transferred",
            now_ms=self._now_ms(),
            decision_json=None,
            target_index=conv.target_index,
            escalate_after_ms=0,
            payload=offer_payload(
                channel=conv.channel.value,
                skills=router.queue_skills(queue),
                rule=conv.routing.rule if conv.routing else None,
                preview=await self._preview(conversation_id),
            ),
            keep_wait=False,
        )

    async def on_escalate(self, timer: DueTimer, now_ms: int) -> int | None:
        """A target's timeout passed unclaimed: offer on the next target.

        Timeouts add up from the wait start (TaskRouter semantics): with targets of 5m and
        10m the second applies at 5m and the third at 15m of waiting.
        """
        conv = await self.store.get_conversation(timer.conversation_id)
        version = int(timer.argument)
        if conv is None or conv.routing is None or conv.routing_version != version:
            return None
        if conv.assignee or conv.status == "resolved":
            return None
        index = conv.target_index + 1
        if index >= len(conv.routing.targets):
            return None
        target = conv.routing.targets[index]
        result = await self.store.reroute(
            conv.id,
            expected_version=version,
            only_unassigned=True,
            queue=target.queue,
            priority=target.priority,
            reason="escalated",
            now_ms=now_ms,
            decision_json=None,
            target_index=index,
            escalate_after_ms=int(target.timeout * 1000) if target.timeout else 0,
            payload=offer_payload(
                channel=conv.channel.value,
                skills=self.router().queue_skills(target.queue),
                rule=conv.routing.rule,
                preview=await self._preview(conv.id),
            ),
            keep_wait=True,
        )
        if result.ok:
            log.info(
                "conversation escalated",
                extra={"conversation_id": conv.id, "queue": target.queue, "routing_version": result.routing_version},
            )
        return None


def may_serve(router: Router, agent: str, conv: Conversation) -> bool:
    """The skills rule of claims (DESIGN §7.3), for everything an agent does to a
    conversation that is not theirs: its queue must be one whose skill levels they meet
    (a conversation on no queue is anyone's, as in ``claim.lua``)."""
    return conv.assignee == agent or not conv.queue or conv.queue in router.agent_queues(agent)
