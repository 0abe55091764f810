"""Working a conversation: claim, next, reply, transfer, pending, resolve, merge."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.core.assignment import may_serve
from gateway.core.outbound import NOT_QUALIFIED, ReplyRefused
from gateway.errors import RequestRejected, parse_json_body
from gateway.model import Attachment, Conversation, whole_number
from gateway.selfservice.presence import chosen_of
from gateway.web.auth import Principal, require
from gateway.web.errors import validation_details
from gateway.web.read_scope import ReadScope
from gateway.web.views import conversation_view, message_view, ok
from gateway.wiring.services import SERVICES

_CONFLICTS = {
    "stale": "the offer is stale: the conversation was re-routed since (routing_version {version})",
    "taken": "already claimed by {assignee}",
    "resolved": "the conversation is resolved",
    "capacity": "you are at your capacity of open conversations",
    "not_qualified": NOT_QUALIFIED,
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClaimBody(Strict):
    routing_version: int | None = Field(default=None, ge=0)

    _whole = field_validator("routing_version", mode="before")(whole_number)  # not true, not "1"


class TransferBody(Strict):
    queue: str = Field(min_length=1, max_length=128)
    priority: int | None = Field(default=None, ge=0, le=9)

    _whole = field_validator("priority", mode="before")(whole_number)


class TemplateBody(BaseModel):
    """A provider template: WhatsApp Cloud's template name, or through Twilio the SID of
    an approved Content template (``HX…``); ``params`` fill its variables in order."""

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(default="en_US", max_length=16)
    params: list[str] = Field(default_factory=list)


_WHERE = ("url", "media_id", "storage_key")


class ReplyAttachment(Attachment):
    """A file of a reply or note: it must say where the file is (an empty one is refused)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [{"required": [k], "properties": {k: {"type": "string", "minLength": 1}}} for k in _WHERE]
        }
    )

    @model_validator(mode="after")
    def _somewhere(self) -> ReplyAttachment:
        if not any(getattr(self, k) for k in _WHERE):
            raise ValueError("an attachment needs a url, a media_id or a storage_key")
        return self


class ReplyBody(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["text"], "properties": {"text": {"pattern": r"\S"}}},
                {"required": ["template"], "properties": {"template": {"type": "object"}}},
                {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}},
            ]
        },
    )

    text: str = Field(default="", max_length=20_000)
    template: TemplateBody | None = None
    attachments: list[ReplyAttachment] = Field(default_factory=list, max_length=10)
    note: bool = Field(default=False, strict=True)  # true or false, never 0 or "yes"

    @model_validator(mode="after")
    def _something(self) -> ReplyBody:
        if not self.text.strip() and self.template is None and not self.attachments:
            raise ValueError("a reply needs text, a template or an attachment")
        return self


class MergeBody(Strict):
    other: str = Field(min_length=1)


async def _body(request: web.Request, model: type[BaseModel], *, optional: bool = False) -> Any:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return model()
        raise RequestRejected(400, "bad_request", "a JSON body is required")
    data = parse_json_body(raw)  # 400 for what is not standard JSON within the limits
    try:
        # Validated as JSON (not as Python objects, where true would pass for 1), from the
        # reader's result: its limits checked, lone surrogates already U+FFFD.
        return model.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        details = validation_details(exc)
        message = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in details)
        raise RequestRejected(422, "invalid", message) from None


async def _conversation(request: web.Request, principal: Principal) -> Conversation:
    """The conversation of the path, when the caller may read it: out of an agent's read
    scope it is absent (404), as for ``GET`` (``gateway.web.read_scope``)."""
    conv = await request.app[SERVICES].store.get_conversation(request.match_info["id"])
    return ReadScope(request, principal).require(conv)


def _may_work_on(principal: Principal, conv: Conversation) -> None:
    if principal.role == "agent" and conv.assignee and conv.assignee != principal.agent:
        raise RequestRejected(403, "not_assignee", f"the conversation is assigned to {conv.assignee}")


def _qualified(request: web.Request, principal: Principal, conv: Conversation) -> None:
    """Transfer, resolve and pending follow the skills rule of claims: an agent acts on a
    conversation that is not theirs only in a queue they can serve (DESIGN §7.3)."""
    if principal.role == "agent" and not may_serve(request.app[SERVICES].router(), principal.agent or "", conv):
        raise RequestRejected(403, "not_qualified", NOT_QUALIFIED)


def _refuse(reason: str, *, version: int | None = None, assignee: str | None = None) -> RequestRejected:
    if reason == "not_found":
        return RequestRejected(404, "not_found", "no such conversation")
    if reason == "not_qualified":
        return RequestRejected(403, reason, NOT_QUALIFIED)
    text = _CONFLICTS.get(reason, reason).format(version=version, assignee=assignee)
    return RequestRejected(409, reason, text)


async def _view(request: web.Request, conversation_id: str, status: int = 200) -> web.Response:
    conv = await request.app[SERVICES].store.get_conversation(conversation_id)
    return ok(conversation_view(conv), status=status)  # type: ignore[arg-type]


async def claim(request: web.Request) -> web.Response:
    principal = require(request, "agent")
    body = await _body(request, ClaimBody, optional=True)
    await _conversation(request, principal)
    result = await request.app[SERVICES].assignment.claim(
        request.match_info["id"], principal.agent or "", body.routing_version
    )
    if not result.ok:
        raise _refuse(result.reason, version=result.routing_version, assignee=result.assignee)
    return await _view(request, request.match_info["id"])


async def next_conversation(request: web.Request) -> web.StreamResponse:
    principal = require(request, "agent")
    services = request.app[SERVICES]
    chosen = await chosen_of(services.store, principal.agent or "")
    if chosen in ("away", "offline"):
        # Presence: an agent who stepped away takes no new work until they are back.
        raise RequestRejected(409, "not_online", f"you are {chosen}; set yourself online to take the next one")
    result = await services.assignment.next_for(principal.agent or "")
    if result.reason == "empty":
        return web.Response(status=204)
    if not result.ok:
        raise _refuse(result.reason)
    return await _view(request, result.conversation_id or "")


async def transfer(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    body = await _body(request, TransferBody)
    services = request.app[SERVICES]
    if body.queue not in services.router().queues():
        raise RequestRejected(422, "unknown_queue", f"no queue named {body.queue!r} in the routing rules")
    conv = await _conversation(request, principal)
    _may_work_on(principal, conv)
    _qualified(request, principal, conv)
    result = await services.assignment.transfer(
        conv.id, body.queue, priority=body.priority, by=principal.agent or "ops", expected_version=conv.routing_version
    )
    if not result.ok:
        raise _refuse(result.reason)
    return await _view(request, conv.id)


async def resolve(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    conv = await _conversation(request, principal)
    _may_work_on(principal, conv)
    _qualified(request, principal, conv)
    services = request.app[SERVICES]
    result = await services.conversations.resolve(conv, by=principal.agent or "ops")
    if not result.ok and result.reason != "already":
        raise _refuse(result.reason)
    return await _view(request, conv.id)


async def pending(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    conv = await _conversation(request, principal)
    _may_work_on(principal, conv)
    _qualified(request, principal, conv)
    result = await request.app[SERVICES].conversations.set_pending(conv)
    if not result.ok:
        raise _refuse(result.reason)
    return await _view(request, conv.id)


async def post_message(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    body = await _body(request, ReplyBody)
    if principal.role == "ops" and not body.note:
        raise RequestRejected(403, "forbidden", "replies are sent by agents; ops may add notes")
    conv = await _conversation(request, principal)
    _may_work_on(principal, conv)
    services = request.app[SERVICES]
    router = services.router()
    try:
        message = await services.outbound.reply(
            conv,
            agent=principal.agent or "ops",
            agent_name=principal.name,
            text=body.text,
            template=body.template.model_dump() if body.template else None,
            attachments=[Attachment(**a.model_dump()) for a in body.attachments],
            note=body.note,
            # A reply that claims an unassigned conversation: the same limits as a claim.
            capacity=router.agent_capacity(principal.agent) if principal.agent else 0,
            queues=router.agent_queues(principal.agent) if principal.agent else None,
        )
    except ReplyRefused as exc:
        raise RequestRejected(exc.status, exc.code, exc.message) from None
    return ok(message_view(message), status=202)


async def merge_contacts(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    body = await _body(request, MergeBody)
    services = request.app[SERVICES]
    keep = request.match_info["id"]
    scope = ReadScope(request, principal)  # both contacts: an agent merges only what they may read
    for contact_id in (keep, body.other):
        await scope.require_contact(services.store, contact_id)
    result = await services.conversations.merge(keep, body.other, by=principal.agent or "ops")
    if result.reason == "not_found":
        raise RequestRejected(404, "not_found", "no such contact")
    if not result.ok:
        messages = {
            "same": "a contact cannot be merged into itself",
            "already": "that contact was already merged",
            "merged_keep": "this contact was merged into another; merge into that one",
        }
        raise RequestRejected(409, result.reason, messages.get(result.reason, result.reason))
    contact = await services.store.get_contact(keep)
    return ok(contact.model_dump(mode="json"))  # type: ignore[union-attr]


routes = [
    web.post("/api/v1/conversations/{id}/claim", claim),
    web.post("/api/v1/agents/me/next", next_conversation),
    web.post("/api/v1/conversations/{id}/transfer", transfer),
    web.post("/api/v1/conversations/{id}/resolve", resolve),
    web.post("/api/v1/conversations/{id}/pending", pending),
    web.post("/api/v1/conversations/{id}/messages", post_message),
    web.post("/api/v1/contacts/{id}/merge", merge_contacts),
]
