"""The OpenAPI document: valid, complete, and describing the running configuration (schemathesis: test_schemathesis.py)."""

from __future__ import annotations

from openapi_spec_validator import validate

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from gateway.web.openapi import document, served_routes
from tests.helpers import gateway_config

NOWHERE = "http://127.0.0.1:9"  # provider APIs: replies fail fast on a closed local port, never leave the machine
ALL_CHANNELS = {
    "api": {"secret": "api-secret-for-openapi", "callback_url": f"{NOWHERE}/replies"},
    "twilio": {"account_sid": "AC" + "2" * 32, "auth_token": "twilio-secret-for-openapi", "api_base_url": NOWHERE},
    "whatsapp": {
        "app_secret": "wa-app-secret-for-openapi",
        "verify_token": "wa-verify-token-for-openapi",
        "access_token": "wa-access-token-for-openapi",
        "phone_number_id": "1",
        "api_base_url": NOWHERE,
    },
    "messenger": {
        "app_secret": "fb-app-secret-for-openapi",
        "verify_token": "fb-verify-token-for-openapi",
        "page_access_token": "fb-page-token-for-openapi",
        "api_base_url": NOWHERE,
    },
    "instagram": {
        "app_secret": "ig-app-secret-for-openapi",
        "verify_token": "ig-verify-token-for-openapi",
        "access_token": "ig-access-token-for-openapi",
        "api_base_url": NOWHERE,
    },
    "telegram": {
        "bot_token": "1:telegram-bot-token-for-openapi",
        "secret_token": "telegram-secret-for-openapi",
        "api_base_url": NOWHERE,
    },
    "wechat": {
        "token": "wechat-token-for-openapi",
        "app_id": "wx1",
        "app_secret": "wechat-app-secret-for-openapi",
        "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "api_base_url": NOWHERE,
    },
    "webchat": {"allowed_origins": ["http://127.0.0.1"]},
}


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(document())


def test_every_route_the_gateway_serves_is_documented() -> None:
    app = build_app(gateway_config(channels=ALL_CHANNELS), store=MemoryStore(), publisher=MemoryPublisher())
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    served = served_routes(app)
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented routes the app does not serve"


async def test_the_served_document_describes_the_running_configuration(aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    # Only the API channel on: no other channel's webhook is in the document.
    app = build_app(gateway_config(), store=MemoryStore(), publisher=MemoryPublisher())
    client = await aiohttp_client(app)
    served = await (await client.get("/api/v1/openapi.json")).json()
    validate(served)
    webhooks = sorted(path for path in served["paths"] if path.startswith("/webhooks/"))
    assert webhooks == ["/webhooks/api"]
    assert "/webchat/ws" not in served["paths"] and "/chat" not in served["paths"]
    assert {(path, method) for path, ops in served["paths"].items() for method in ops} == served_routes(app)
    # With every channel on, all of them.
    everything = await aiohttp_client(
        build_app(gateway_config(channels=ALL_CHANNELS), store=MemoryStore(), publisher=MemoryPublisher())
    )
    served = await (await everything.get("/api/v1/openapi.json")).json()
    assert served["paths"].keys() == document()["paths"].keys()


def test_request_schemas_are_as_strict_as_the_handlers() -> None:
    schemas = document()["components"]["schemas"]
    channels = schemas["SimulateRequest"]["properties"]["channel"]["enum"]
    assert "sms" in channels and "fax" not in channels
    assert {"required": ["text"], "properties": {"text": {"pattern": r"\S"}}} in schemas["ApiInbound"]["anyOf"]
    assert len(schemas["ReplyBody"]["anyOf"]) == 3  # text, a template or an attachment
    size = schemas["ApiAttachment"]["properties"]["size"]
    assert {"type": "integer", "minimum": 0} in size["anyOf"]
    listing = document()["paths"]["/api/v1/conversations"]["get"]["parameters"]
    before = next(p for p in listing if p["name"] == "before")
    assert before["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**53}
    ws = document()["paths"]["/api/v1/events/ws"]["get"]["responses"]
    assert "400" in ws
