"""One place that turns every failure into a JSON error body with the right status.

Bad input is 4xx, storage down is 503 with ``Retry-After``; a 500 only ever means a bug.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pydantic
from aiohttp import web

from gateway.core.amend import InvalidAmendment
from gateway.core.ingest import InvalidInbound
from gateway.errors import RequestRejected
from gateway.model import Backlogged, ServiceUnavailable

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    501: "not_implemented",
    503: "unavailable",
}


def json_error(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    body = {"error": {"code": code, "message": message, **extra}}
    return web.json_response(body, status=status, headers=headers, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def validation_details(exc: pydantic.ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestRejected as exc:
        return json_error(exc.status, exc.code, exc.message, headers=getattr(exc, "headers", None))
    except (InvalidInbound, InvalidAmendment) as exc:
        return json_error(422, "invalid", str(exc))
    except Backlogged as exc:
        return json_error(503, exc.code, str(exc), headers={"Retry-After": str(exc.retry_after)})
    except ServiceUnavailable as exc:
        log.warning("service unavailable: %s", exc, extra={"path": request.path})
        return json_error(
            503, "storage_unavailable", "storage is unavailable; retry later", headers={"Retry-After": "5"}
        )
    except pydantic.ValidationError as exc:
        return json_error(
            422, "invalid", "the request does not match the expected schema", details=validation_details(exc)
        )
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate", "retry-after")}
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return json_error(exc.status, _CODES.get(exc.status, "error"), message, headers=headers)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return json_error(500, "internal_error", "internal error")
