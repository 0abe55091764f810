"""What a router is, the holder of the one in force, and the router used when no rules
file is configured (everything to one queue)."""

from __future__ import annotations

from typing import Protocol

from gateway.model import RouteTarget, RoutingContext, RoutingDecision
from gateway.routing.calendar import BusinessHours


class Router(Protocol):
    version: str
    business_hours: BusinessHours | None  # the desk's calendar, when the rules have one

    def decide(self, ctx: RoutingContext) -> RoutingDecision: ...

    def queues(self) -> list[str]: ...

    def queue_skills(self, queue: str) -> list[str]: ...

    def agent_queues(self, agent: str) -> list[str]:
        """The queues whose required skill levels the agent meets."""
        ...

    def agent_capacity(self, agent: str) -> int:
        """Open claimed conversations the agent may hold at once; 0 = no limit."""
        ...


class RouterHolder:
    """The router in force. Swapping is one assignment, so a decision never sees half a
    rule set; every decision records the version that made it."""

    def __init__(self, router: Router) -> None:
        self.current = router

    def __call__(self) -> Router:
        return self.current


class SingleQueueRouter:
    def __init__(self, queue: str = "general", priority: int = 3) -> None:
        self.queue = queue
        self.priority = priority
        self.version = "static"

    def decide(self, ctx: RoutingContext) -> RoutingDecision:
        return RoutingDecision(
            queue=self.queue,
            priority=self.priority,
            rule=None,
            targets=[RouteTarget(queue=self.queue, priority=self.priority)],
            rules_version=self.version,
            explanation=[f"no rules configured: every conversation goes to {self.queue}"],
        )

    def queues(self) -> list[str]:
        return [self.queue]

    business_hours = None  # no rules, no calendar

    def queue_skills(self, queue: str) -> list[str]:
        return []

    def agent_queues(self, agent: str) -> list[str]:
        return [self.queue]

    def agent_capacity(self, agent: str) -> int:
        return 0
