"""Paths of ops' reports: agent performance with the team's series, and surveys."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gateway.web.openapi.parts import FORBIDDEN, INVALID, any_object, body, error, operation
from gateway.web.reports_api import SurveyBody

MODELS: list[type[BaseModel]] = [SurveyBody]

PERIOD = [
    {
        "name": "from",
        "in": "query",
        "description": "a date (a whole day in tz) or an ISO 8601 time; default: 7 days before to",
        "schema": {"type": "string"},
    },
    {
        "name": "to",
        "in": "query",
        "description": "a date (included) or an ISO 8601 time (excluded); default: today",
        "schema": {"type": "string"},
    },
    {
        "name": "tz",
        "in": "query",
        "description": "IANA time zone of the days; default: the rules' business_hours zone, else UTC",
        "schema": {"type": "string"},
    },
]


def paths() -> dict[str, Any]:
    tags = ["reports"]
    return {
        "/api/v1/agents/stats": {
            "get": operation(
                "Agent performance per agent and day (handled, resolved, first-response, reply and handle "
                "time medians, CSAT, SLA attainment, cases on time) and the team's series per day (volume "
                "by channel, SLA attainment, CSAT with survey answers, self-service deflection); ops",
                {"200": any_object(), "400": error("a bad period or time zone (at most 92 days)"), **FORBIDDEN},
                tags=tags,
                parameters=PERIOD,
            )
        },
        "/api/v1/surveys": {
            "post": operation(
                "Send a one-question satisfaction survey to the contacts active in a period, on their "
                "channel (messaging windows and opt-outs respected); ops",
                {
                    "202": any_object("the survey: id, selected, opted_out, sent, skipped, answered"),
                    **INVALID,
                    **FORBIDDEN,
                },
                tags=tags,
                requestBody=body("SurveyBody"),
            )
        },
        "/api/v1/surveys/{survey_id}": {
            "get": operation(
                "A survey's figures: sent, skipped by reason, answered, average, response rate, opted out; ops",
                {"200": any_object(), "404": error("no such survey"), **FORBIDDEN},
                tags=tags,
                parameters=[{"name": "survey_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            )
        },
    }
