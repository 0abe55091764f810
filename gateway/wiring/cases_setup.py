"""Cases in the running gateway: the workflow file in force, the rules that open cases,
and the part that takes steps, handles their timers and answers progress questions."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.cases.context import CaseContext
from gateway.cases.library import WorkflowLibrary
from gateway.cases.service import Cases
from gateway.cases.workflow_file import WorkflowError
from gateway.config import ConfigError, GatewayConfig
from gateway.routing.reload import RulesManager
from gateway.routing.router import RouterHolder
from gateway.wiring.services import Services


def workflow_library(config: GatewayConfig, router: RouterHolder) -> WorkflowLibrary | None:
    """The case workflow in force, when ``cases.file`` is set; a reloaded file naming a
    queue the rules do not have is refused (the previous workflow stays)."""
    if config.cases.file is None:
        return None
    try:
        return WorkflowLibrary(
            config.resolve_path(config.cases.file),
            interval=config.cases.reload_interval,
            check=lambda w: [
                f"no queue named {q} in the routing rules" for q in sorted(w.queues() - set(router().queues()))
            ],
        )
    except WorkflowError as exc:
        raise ConfigError("cases.file: the workflow file cannot be used:\n" + "\n".join(exc.errors)) from None


def check_open_case(rules: RulesManager, workflow: WorkflowLibrary | None) -> None:
    """A rule's ``open_case`` names a category of the workflow file (and needs one)."""
    known = set(workflow.workflow.categories) if workflow else set()
    for rule in rules.current.rules.rules:
        if rule.open_case and rule.open_case not in known:
            where = f"{rules.current.rules.path}:{rule.line}"
            if workflow is None:
                raise ConfigError(f"routing.rules: {where}: rule {rule.name!r} opens cases, but cases.file is not set")
            raise ConfigError(f"routing.rules: {where}: rule {rule.name!r}: no case category {rule.open_case!r}")


def cases_part(services: Services, workflow: WorkflowLibrary, clock: Callable[[], float] = time.time) -> Cases:
    """Complaints and feedback as cases: their steps, timers and the progress questions."""
    context = CaseContext(
        workflow=workflow,
        store=services.store,
        outbound=services.outbound,
        conversations=services.conversations,
        router=services.router,
        adapter_for=services.adapter_for,
        wake=services.timers.wake,
        clock=clock,
    )
    cases = Cases(context, workflow)
    services.ingest.interceptors.append(cases.questions)
    services.ingest.opens_cases = True
    for kind, handler in cases.timer_handlers().items():
        services.timers.register(kind, handler)
    return cases
