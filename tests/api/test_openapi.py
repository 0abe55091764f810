"""The OpenAPI document: valid, complete, and honest under schemathesis against a real gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from gateway.web.openapi import document
from tests.helpers import ALICE_TOKEN, OPS_TOKEN, gateway_config
from tests.processes import GatewayProcess, process_config

ALL_CHANNELS = {
    "api": {"secret": "api-secret-for-openapi"},
    "twilio": {"account_sid": "AC" + "2" * 32, "auth_token": "twilio-secret-for-openapi"},
    "whatsapp": {
        "app_secret": "wa-app-secret-x",
        "verify_token": "wa-verify-x",
        "access_token": "wa-access-x",
        "phone_number_id": "1",
    },
    "messenger": {"app_secret": "fb-app-secret-x", "verify_token": "fb-verify-x", "page_access_token": "fb-page-x"},
    "instagram": {"app_secret": "ig-app-secret-x", "verify_token": "ig-verify-x", "access_token": "ig-access-x"},
    "telegram": {"bot_token": "1:telegram-bot-x", "secret_token": "telegram-secret-x"},
    "wechat": {"token": "wechat-token-x", "app_id": "wx1", "app_secret": "wechat-app-x"},
    "webchat": {"allowed_origins": ["http://127.0.0.1"]},
}


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(document())


async def test_every_route_the_gateway_serves_is_documented(aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    app = build_app(gateway_config(channels=ALL_CHANNELS), store=MemoryStore(), publisher=MemoryPublisher())
    documented = {(path, method.upper()) for path, ops in document()["paths"].items() for method in ops}
    served = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "*") or path is None:
            continue
        served.add((path, route.method))
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented routes the app does not serve"


@pytest.fixture(scope="module")
def running_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir = Path(tmp_path_factory.mktemp("openapi"))
    workflow = workdir / "cases.yaml"
    workflow.write_text(
        "number_prefix: CP\ncategories:\n  service:\n    name: {zh: 服务, en: service}\n    kind: complaint\n"
        "    first_update_within: 1d\n    resolve_within: 15d\n    max_resolve_within: 30d\n    queue: general\n"
    )
    config = process_config(
        storage_url="memory://",
        prefix="gw",
        broker_url="memory://",
        channels=ALL_CHANNELS,
        cases={"file": str(workflow)},
    )
    gw = GatewayProcess(config, workdir, "schemathesis").start()
    # Something to read: one conversation.
    import hashlib
    import hmac
    import json

    body = json.dumps({"id": "seed-1", "from": {"id": "seed"}, "text": "付款失败"}).encode()
    sig = "sha256=" + hmac.new(b"api-secret-for-openapi", body, hashlib.sha256).hexdigest()
    requests.post(f"{gw.url}/webhooks/api", data=body, headers={"X-Gateway-Signature": sig}, timeout=10)
    yield gw
    gw.stop()
    assert "Traceback" not in gw.log(), gw.log()[-3000:]


schema = schemathesis.openapi.from_dict(document()).exclude(path="/webchat/ws")


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_gateway_fail(case, running_gateway: GatewayProcess) -> None:  # type: ignore[no-untyped-def]
    # As ops, then as an agent (some operations are one role's only).
    for token in (OPS_TOKEN, ALICE_TOKEN):
        case.call_and_validate(
            base_url=running_gateway.url, headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error]
        )
