"""The public feedback form: ``GET /feedback`` (a page in Chinese or English that works
without JavaScript: a plain form posting to ``POST /feedback``, answered with a page
holding the case number) and ``POST /api/v1/feedback`` (JSON, answered ``201 {number}``).

A submission is a customer message on channel ``form`` from the sender's email address or
phone number (so it joins the contact who owns that address), and a case of the category
chosen. The sender sees the number on the page and gets it by email or SMS (the case's
opening text, sent through the form channel). The same words from the same address for
the same category are one submission: sending twice answers the same number.

Rate-limited per client address and per email/phone, with limits every gateway process
shares (``form.per_ip``, ``form.per_identity`` per ``form.window`` of the workflow file):
429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Annotated
from urllib.parse import parse_qsl

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from gateway.cases.context import Actor, CaseRefused
from gateway.cases.service import CASES, Cases
from gateway.cases.timeline import iso
from gateway.errors import RequestRejected, header_text
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Channel, Identity, IdentityKind, InboundMessage
from gateway.web import feedback_page
from gateway.web.conversation_api import _body as read_body
from gateway.web.errors import json_error, validation_details
from gateway.web.views import ok
from gateway.wiring.services import SERVICES

FORM = Actor("form", automatic=True)
ENDPOINT = "feedback"


class RateLimited(RequestRejected):
    def __init__(self, retry_after: int) -> None:
        super().__init__(429, "too_many_requests", f"too many submissions; try again in {retry_after} s")
        self.headers = {"Retry-After": str(retry_after)}


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None
    category: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    language: Annotated[str, StringConstraints(pattern=r"^(zh|en)$")] | None = None

    @model_validator(mode="after")
    def _an_address(self) -> FeedbackBody:
        if not self.email and not self.phone:
            raise ValueError("give an email address or a phone number, so we can tell you the case number")
        return self


def _cases(request: web.Request) -> Cases:
    cases = request.app.get(CASES)
    if cases is None:
        raise web.HTTPNotFound(text="the feedback form is not configured (cases.file)")
    return cases


def sender_identity(request: web.Request, body: FeedbackBody) -> Identity:
    region = request.app[SERVICES].config.identity.default_region
    try:
        if body.email:
            return make_identity(IdentityKind.EMAIL, body.email)
        return make_identity(IdentityKind.PHONE, body.phone or "", default_region=region)
    except InvalidIdentity:
        field = "email" if body.email else "phone"
        raise RequestRejected(
            422, "invalid", f"{field}: is not a valid {'email address' if body.email else 'phone number'}"
        ) from None


async def _limit(request: web.Request, cases: Cases, identity: Identity) -> None:
    form = cases.ctx.workflow().form
    window_ms = int(form.window * 1000)
    store = request.app[SERVICES].store
    address = request.remote or "unknown"
    waits = [
        await store.rate_hit(f"feedback:ip:{address}", limit=form.per_ip, window_ms=window_ms),
        await store.rate_hit(
            "feedback:id:" + hashlib.sha256(identity.key.encode()).hexdigest()[:24],
            limit=form.per_identity,
            window_ms=window_ms,
        ),
    ]
    if any(waits):
        raise RateLimited(math.ceil(max(waits) / 1000))


async def submit(request: web.Request, body: FeedbackBody) -> tuple[str, int | None]:
    """(case number, due ms) of the submission (the same as before for a resubmission)."""
    cases = _cases(request)
    workflow = cases.ctx.workflow()
    if body.category not in workflow.form_categories():
        raise RequestRejected(
            422, "unknown_category", f"category must be one of {', '.join(workflow.form_categories())}"
        )
    identity = sender_identity(request, body)
    await _limit(request, cases, identity)
    words = f"{identity.key}\n{body.category}\n{body.text}".encode()
    category = workflow.categories[body.category]
    result = await request.app[SERVICES].ingest.accept(
        InboundMessage(
            channel=Channel.FORM,
            external_id="form-" + hashlib.sha256(words).hexdigest()[:32],
            endpoint=ENDPOINT,
            sender=identity,
            sender_name=body.name,
            text=body.text,
            subject=category.name.pick(body.language or workflow.default_language),
            language_hint=body.language,
            conversation_attributes={"feedback_category": body.category},
        )
    )
    try:
        case = await cases.opening.open(result.conversation_id, body.category, body.text, FORM)
    except CaseRefused as exc:
        if exc.code != "case_exists":
            raise
        conv = await request.app[SERVICES].store.get_conversation(result.conversation_id)
        number = conv.attributes.get("case") if conv else None
        if not isinstance(number, str):
            raise
        existing = await cases.get(number)
        return number, existing.due_ms if existing else None
    return case.number, case.due_ms


async def post_api(request: web.Request) -> web.Response:
    body = await read_body(request, FeedbackBody)
    try:
        number, due_at = await submit(request, body)
    except RateLimited as exc:
        return json_error(exc.status, exc.code, exc.message, headers=exc.headers)
    return ok({"number": number, "due_at": iso(due_at)}, status=201)


def _language(request: web.Request, cases: Cases) -> str:
    asked = request.query.get("lang")
    if asked in ("zh", "en"):
        return asked
    accept = (header_text(request.headers, "Accept-Language") or "").lower()
    if accept:
        return "zh" if accept.startswith("zh") else "en"
    return cases.ctx.workflow().default_language


async def get_page(request: web.Request) -> web.Response:
    cases = _cases(request)
    return feedback_page.form_page(cases.ctx.workflow(), _language(request, cases))


async def post_page(request: web.Request) -> web.Response:
    """The form without JavaScript: the answer is a page, the number or what to fix."""
    cases = _cases(request)
    if request.content_type != "application/x-www-form-urlencoded":
        raise RequestRejected(415, "unsupported_media_type", "post the form as application/x-www-form-urlencoded")
    # Read here, not with request.post(): undecodable bytes become U+FFFD like every customer
    # string, instead of an exception.
    raw = (await request.read()).decode("utf-8", "replace")
    form: dict[str, str] = {}
    try:
        for key, value in parse_qsl(raw, keep_blank_values=True, max_num_fields=50):
            form.setdefault(key, value)
    except ValueError:
        raise RequestRejected(400, "malformed_form", "the form has too many fields") from None
    values = {k: form.get(k, "") for k in ("name", "email", "phone", "category", "text", "lang")}
    language = values["lang"] if values["lang"] in ("zh", "en") else _language(request, cases)
    workflow = cases.ctx.workflow()
    try:
        body = FeedbackBody(
            name=values["name"],
            email=values["email"] or None,
            phone=values["phone"] or None,
            category=values["category"],
            text=values["text"],
            language=language,
        )
        number, due_at = await submit(request, body)
    except ValidationError as exc:
        problems = [f"{d['field'] or ''}: {d['message']}".strip(": ") for d in validation_details(exc)]
        return feedback_page.form_page(workflow, language, values=values, problems=problems, status=422)
    except RequestRejected as exc:
        if exc.status >= 500:
            raise
        page = feedback_page.form_page(workflow, language, values=values, problems=[exc.message], status=exc.status)
        if isinstance(exc, RateLimited):
            page.headers.update(exc.headers)
        return page
    return feedback_page.thanks_page(workflow, language, number, due_at)


routes = [
    web.get("/feedback", get_page),
    web.post("/feedback", post_page),
    web.post("/api/v1/feedback", post_api),
]
