"""Paths of cases (complaints and feedback) and of the public feedback form, and the
schemas of what they answer. Every case path answers 404 ``cases_off`` while
``cases.file`` is not configured."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gateway.cases.stages import STAGES
from gateway.web.cases_api import ExtendBody, OpenCaseBody, PartyBody, ProgressBody, ResolveBody
from gateway.web.feedback import FeedbackBody
from gateway.web.openapi.parts import BAD_HEADER, FORBIDDEN, INVALID, body, error, json_of, operation, schema

NUMBER = [
    {
        "name": "number",
        "in": "path",
        "required": True,
        "description": "the case number, <PREFIX>-<YYYYMMDD>-<NNNN>",
        "schema": {"type": "string", "minLength": 1},
    }
]
NO_CASE = {"404": error("no such case (or not one the agent may read), or cases are off")}
STEP_CONFLICT = {"409": error("stage: the case's stage does not allow the step (e.g. resolved already)")}
MODELS: list[type[BaseModel]] = [OpenCaseBody, ProgressBody, ExtendBody, PartyBody, ResolveBody, FeedbackBody]
HTML = {"text/html": {"schema": {"type": "string"}}}


def paths() -> dict[str, Any]:
    cases = ["cases"]
    return {
        "/api/v1/cases": {
            "post": operation(
                "Open a case on a conversation; the customer is told its number and due date",
                {
                    "201": json_of("Case", "the case"),
                    "404": error("no such conversation (or not one the agent may read), or cases are off"),
                    "409": error("case_exists: the conversation has an open case (named in the message)"),
                    **INVALID,
                },
                tags=cases,
                requestBody=body("OpenCaseBody"),
            ),
            "get": operation(
                "Cases: open ones first, the most overdue on top; then resolved and closed, newest first",
                {"200": json_of("CaseList"), "400": error("bad filter"), **NO_CASE},
                tags=cases,
                parameters=[
                    {"name": "stage", "in": "query", "schema": {"type": "string", "enum": list(STAGES)}},
                    {"name": "category", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "overdue",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["true", "false", "1", "0"]},
                    },
                    {"name": "contact_id", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                ],
            ),
        },
        "/api/v1/cases/stats": {
            "get": operation(
                "Case statistics for a period, by category (ops)",
                {
                    "200": {
                        "description": "the figures (JSON), or one CSV row per category and one for all",
                        "content": {
                            "application/json": {"schema": schema("CaseStats")},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "400": error("bad period or format"),
                    **FORBIDDEN,
                    **NO_CASE,
                },
                tags=cases,
                parameters=[
                    {
                        "name": "from",
                        "in": "query",
                        "description": "a date (whole day) or ISO 8601 time",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "to",
                        "in": "query",
                        "description": "a date (included) or ISO 8601 time (excluded)",
                        "schema": {"type": "string"},
                    },
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]}},
                ],
            )
        },
        "/api/v1/cases/workflow": {
            "get": operation(
                "The workflow in force: categories (names, kind, queue, deadlines) and stage names",
                {"200": json_of("CaseWorkflow"), **NO_CASE},
                tags=cases,
            )
        },
        "/api/v1/cases/{number}": {
            "get": operation(
                "A case with its timeline, parties, deadlines and conversations",
                {"200": json_of("Case"), **NO_CASE},
                tags=cases,
                parameters=NUMBER,
            )
        },
        "/api/v1/cases/{number}/progress": {
            "post": operation(
                "A progress step: a note for the customer (with the stage and ETA) or an internal one",
                {"200": json_of("Case"), **NO_CASE, **STEP_CONFLICT, **INVALID},
                tags=cases,
                parameters=NUMBER,
                requestBody=body("ProgressBody"),
            )
        },
        "/api/v1/cases/{number}/extend": {
            "post": operation(
                "Extend the deadline, telling the customer the reason and the new date",
                {
                    "200": json_of("Case"),
                    "422": error("past_max_resolve_within, not_later, or a field missing or invalid"),
                    "400": error("malformed JSON"),
                    **NO_CASE,
                    **STEP_CONFLICT,
                },
                tags=cases,
                parameters=NUMBER,
                requestBody=body("ExtendBody"),
            )
        },
        "/api/v1/cases/{number}/parties": {
            "post": operation(
                "Bring in a merchant: they are emailed the case number and summary; their replies land on the case",
                {"201": json_of("Case"), **NO_CASE, **STEP_CONFLICT, **INVALID},
                tags=cases,
                parameters=NUMBER,
                requestBody=body("PartyBody"),
            )
        },
        "/api/v1/cases/{number}/resolve": {
            "post": operation(
                "Resolve: the customer is told the resolution, then asked for a rating",
                {"200": json_of("Case"), **NO_CASE, **STEP_CONFLICT, **INVALID},
                tags=cases,
                parameters=NUMBER,
                requestBody=body("ResolveBody"),
            )
        },
        "/api/v1/feedback": {
            "post": operation(
                "Feedback from anyone (the form's JSON side): a conversation on channel form and a case",
                {
                    "201": {
                        "description": "the case number (the same one for a repeated submission)",
                        "content": {"application/json": {"schema": schema("FeedbackAnswer")}},
                    },
                    "404": error("cases are off"),
                    "429": error("too many submissions from this address or for this email/phone; see Retry-After"),
                    **INVALID,
                },
                tags=["feedback"],
                auth=False,
                requestBody=body("FeedbackBody"),
            )
        },
        "/feedback": {
            "get": {
                "summary": "The feedback form (zh or en: ?lang=, else Accept-Language); no JavaScript needed",
                "tags": ["feedback"],
                "parameters": [
                    {
                        "name": "lang",
                        "in": "query",
                        "description": "zh or en; anything else: the browser's language",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {"description": "the page", "content": HTML},
                    "404": error("cases are off"),
                    **BAD_HEADER,
                },
            },
            "post": {
                "summary": "The form posted without JavaScript: a page with the case number, or what to fix",
                "tags": ["feedback"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    name: {"type": "string"}
                                    for name in ("name", "email", "phone", "category", "text", "lang")
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "the case number", "content": HTML},
                    "404": error("cases are off"),
                    "415": error("not posted as application/x-www-form-urlencoded"),
                    "422": {"description": "what to fix", "content": HTML},
                    "429": {"description": "too many submissions; see Retry-After", "content": HTML},
                    "503": error("storage is unavailable; retry later"),
                },
            },
        },
    }


def schemas() -> dict[str, Any]:
    entry = {
        "type": "object",
        "required": ["seq", "at", "kind", "by"],
        "properties": {
            "seq": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "kind": {"type": "string", "description": "opened, progress, note, extended, party_added, resolved, …"},
            "by": {"type": "string"},
            "internal": {"type": "boolean", "description": "for the team only; never sent to the customer"},
            "note": {"type": "string"},
            "customer_text": {"type": "string", "description": "what the customer was sent, word for word"},
        },
    }
    case = {
        "type": "object",
        "required": ["number", "category", "kind", "stage", "due_at", "deadlines"],
        "properties": {
            "number": {"type": "string"},
            "category": {"type": "string"},
            "category_name": {"type": "object", "properties": {"zh": {"type": "string"}, "en": {"type": "string"}}},
            "kind": {"type": "string", "enum": ["complaint", "feedback"]},
            "stage": {"type": "string", "enum": list(STAGES)},
            "summary": {"type": "string"},
            "conversation_id": {"type": "string"},
            "due_at": {"type": "string", "format": "date-time"},
            "deadlines": {"type": "object"},
            "extensions": {"type": "integer"},
            "timeline": {"type": "array", "items": entry},
            "parties": {"type": "array", "items": {"type": "object"}},
            "conversations": {"type": "array", "items": {"type": "string"}},
        },
    }
    return {
        "Case": case,
        "CaseList": {"type": "object", "properties": {"cases": {"type": "array", "items": case}}},
        "CaseStats": {
            "type": "object",
            "properties": {
                "from": {"type": "string"},
                "to": {"type": "string"},
                "received": {"type": "integer"},
                "by_stage": {"type": "object"},
                "on_time_rate": {"type": ["number", "null"]},
                "median_hours_to_resolve": {"type": ["number", "null"]},
                "extensions": {"type": "integer"},
                "by_category": {"type": "object"},
            },
        },
        "CaseWorkflow": {
            "type": "object",
            "properties": {
                "number_prefix": {"type": "string"},
                "timezone": {"type": "string"},
                "categories": {"type": "object"},
                "stages": {"type": "object"},
            },
        },
        "FeedbackAnswer": {
            "type": "object",
            "required": ["number"],
            "properties": {"number": {"type": "string"}, "due_at": {"type": ["string", "null"]}},
        },
    }
