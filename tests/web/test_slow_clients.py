"""Clients that never finish a request hold nothing: headers that never end are cut off
after ``http.header_timeout``, a body that never arrives gets 408 after
``http.body_timeout``, and an SMTP client that goes silent is disconnected after
``smtp.timeout``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from gateway.web.slow_clients import runner_options
from gateway.wiring.services import SERVICES
from tests.conftest import eventually
from tests.helpers import gateway_config

WAIT = 30.0  # generous: the timeouts under test are one second


async def serve(aiohttp_server: Any, **http: Any) -> Any:
    config = gateway_config(http={"header_timeout": "1s", "body_timeout": "1s", **http})
    app = build_app(config, store=MemoryStore(), publisher=MemoryPublisher())
    return await aiohttp_server(app, **runner_options(config.http.header_timeout))


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), WAIT)


async def test_headers_that_never_end_are_cut_off(aiohttp_server: Any) -> None:
    server = await serve(aiohttp_server)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and nothing more, ever
    await writer.drain()
    assert await closed_by_server(reader) == b""
    writer.close()
    # A connection that sends nothing at all goes the same way.
    reader, writer = await asyncio.open_connection(server.host, server.port)
    assert await closed_by_server(reader) == b""
    writer.close()


async def test_a_trickle_of_header_bytes_does_not_keep_the_connection(aiohttp_server: Any) -> None:
    server = await serve(aiohttp_server)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")

    async def trickle() -> None:
        while not writer.is_closing():
            writer.write(b"X: y\r\n")
            await asyncio.sleep(0.2)

    task = asyncio.create_task(trickle())
    try:
        assert await closed_by_server(reader) == b""
    finally:
        task.cancel()
        writer.close()


async def test_a_body_that_never_arrives_is_408(aiohttp_server: Any) -> None:
    server = await serve(aiohttp_server)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"POST /webhooks/api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"id": '
    )
    await writer.drain()
    answer = await closed_by_server(reader)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"request_timeout" in answer
    writer.close()


async def test_a_normal_request_is_untouched(aiohttp_server: Any) -> None:
    server = await serve(aiohttp_server)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    assert (await closed_by_server(reader)).startswith(b"HTTP/1.1 200 ")
    writer.close()


async def test_a_silent_smtp_client_is_disconnected(aiohttp_client: Any, tmp_path: Path) -> None:
    from tests.channels.test_email_gateway import email_sections

    sections = email_sections(None, tmp_path)
    sections["smtp"]["timeout"] = "1s"
    client = await aiohttp_client(
        build_app(gateway_config(**sections), store=MemoryStore(), publisher=MemoryPublisher())
    )
    email = next(a for a in client.app[SERVICES].adapters if a.name == "email")
    port = await eventually(lambda: email.server.port)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await asyncio.wait_for(reader.readline(), WAIT)).startswith(b"220 ")
    writer.write(b"EHLO probe.example\r\nMAIL FROM:<a@b.cn>\r\n")  # then silence
    await writer.drain()
    rest = await closed_by_server(reader)  # returns once the server has closed it
    assert rest.endswith(b"250 OK\r\n")  # answered, then disconnected for its silence
    writer.close()
