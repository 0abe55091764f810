"""Live rules: file change and SIGHUP reload a running gateway; a bad file keeps the old rules;
a swap that adds a queue declares it on RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import AmqpPublisher, MemoryPublisher
from gateway.routing.reload import RulesManager, load_at_startup
from gateway.routing.router import RouterHolder
from gateway.routing.rules import rules_version
from gateway.storage import MemoryStore
from gateway.wiring.services import SERVICES
from tests.conftest import eventually
from tests.helpers import auth, gateway_config
from tests.processes import ROOT, GatewayProcess, process_config
from tests.routing.conftest import BASE_RULES
from tests.servers import wait_for

CHANGED_RULES = BASE_RULES.replace("{queue: disputes, priority: 8}", "{queue: disputes, priority: 9}")
BROKEN_RULES = BASE_RULES.replace("timeout: 10m", "timeout: ten minutes")
BROKEN_LINE = next(i for i, line in enumerate(BROKEN_RULES.splitlines(), 1) if "ten minutes" in line)


def write(path: Path, text: str) -> None:
    """Like an editor saving: a new mtime even within the same clock tick."""
    path.write_text(text, encoding="utf-8")
    stamp = time.time_ns() + 1_000_000
    os.utime(path, ns=(stamp, stamp))


def manager_for(path: Path, publisher: Any, interval: float = 0.05) -> RulesManager:
    loaded = load_at_startup(path)
    holder = RouterHolder(loaded.router)
    return RulesManager(path=path, holder=holder, publisher=publisher, initial=loaded, poll_interval=interval)


async def test_a_changed_file_is_swapped_in(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    write(path, BASE_RULES)
    publisher = MemoryPublisher()
    manager = manager_for(path, publisher)
    watcher = asyncio.create_task(manager.watch())
    try:
        assert manager.holder.current.version == rules_version(BASE_RULES)
        await asyncio.to_thread(write, path, CHANGED_RULES.replace("  general: {}\n", "  general: {}\n  vip: {}\n"))
        await eventually(lambda: manager.current.reason == "file change", timeout=30)
        assert manager.holder.current is manager.current.router
        assert "vip" in manager.holder.current.queues() and "vip" in publisher.queues
    finally:
        watcher.cancel()


def rejections(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("routing rules rejected")]


async def test_a_broken_file_keeps_the_old_rules_and_says_why(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "routing.yaml"
    write(path, BASE_RULES)
    manager = manager_for(path, MemoryPublisher())
    before = manager.holder.current
    watcher = asyncio.create_task(manager.watch())
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.routing.reload"):
            await asyncio.to_thread(write, path, BROKEN_RULES)
            await eventually(lambda: any(r.getMessage().startswith("routing rules rejected") for r in caplog.records))
        record = next(r for r in caplog.records if r.getMessage().startswith("routing rules rejected"))
        assert record.errors == [  # type: ignore[attr-defined]
            f"{path}:{BROKEN_LINE}: rule 'payments-zh': target 1: bad duration 'ten minutes' for timeout "
            "(use e.g. 30s, 10m, 2h, 1d)"
        ]
        assert record.reason == "file change"  # type: ignore[attr-defined]
        assert manager.holder.current is before and manager.current.version == rules_version(BASE_RULES)
        # A missing file (an editor's rename dance) keeps them too; its return is picked up.
        with caplog.at_level(logging.ERROR, logger="gateway.routing.reload"):
            await asyncio.to_thread(path.unlink)
            await eventually(lambda: len(rejections(caplog)) == 2)  # the watcher saw it gone
        assert rejections(caplog)[-1].errors == [f"{path}:1: no such rules file"]  # type: ignore[attr-defined]
        assert manager.holder.current is before
        await asyncio.to_thread(write, path, CHANGED_RULES)
        await eventually(lambda: manager.current.version == rules_version(CHANGED_RULES), timeout=30)
    finally:
        watcher.cancel()


async def test_a_reload_request_rereads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    write(path, BASE_RULES)
    manager = manager_for(path, MemoryPublisher(), interval=3600)
    await asyncio.to_thread(write, path, CHANGED_RULES)
    manager.request_reload()
    await eventually(lambda: manager.current.version == rules_version(CHANGED_RULES), timeout=30)
    assert manager.current.reason == "SIGHUP"


async def test_a_put_that_cannot_write_the_file_changes_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    path = directory / "routing.yaml"
    write(path, BASE_RULES)
    manager = manager_for(path, MemoryPublisher(), interval=3600)
    before = manager.holder.current
    shutil.rmtree(directory)  # nowhere to write the temporary file
    with pytest.raises(OSError):
        await manager.replace(CHANGED_RULES.encode())
    assert manager.holder.current is before


def _get(port: int, path: str) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=auth())
    with urllib.request.urlopen(request, timeout=3) as resp:
        return json.loads(resp.read())


@pytest.fixture
def serve(tmp_path: Path) -> Any:
    started: list[GatewayProcess] = []

    def start(rules: Path, **routing: Any) -> GatewayProcess:
        config = process_config(
            storage_url="memory://", prefix="x", broker_url="memory://", routing={"rules": str(rules), **routing}
        )
        gateway = GatewayProcess(config, tmp_path, "reload")
        started.append(gateway)
        return gateway.start()

    yield start
    for gateway in started:
        gateway.stop()


def test_a_running_gateway_reloads_on_file_change(tmp_path: Path, serve: Any) -> None:
    rules = tmp_path / "routing.yaml"
    write(rules, BASE_RULES)
    gateway = serve(rules, reload_interval="0.2s")
    assert _get(gateway.port, "/api/v1/routing/rules")["version"] == rules_version(BASE_RULES)
    write(rules, CHANGED_RULES)
    wait_for(
        lambda: _get(gateway.port, "/api/v1/routing/rules")["version"] == rules_version(CHANGED_RULES),
        30,
        "the changed rules were not loaded",
    )
    assert _get(gateway.port, "/api/v1/routing/rules")["loaded_by"] == "file change"


def test_a_running_gateway_reloads_on_sighup_and_keeps_its_rules_on_a_bad_file(tmp_path: Path, serve: Any) -> None:
    rules = tmp_path / "routing.yaml"
    write(rules, BASE_RULES)
    gateway = serve(rules, reload_interval="1h")  # only the signal can reload within this test
    assert gateway.proc is not None

    write(rules, BROKEN_RULES)
    gateway.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "routing rules rejected" in gateway.log(), 30, "the bad rules were not reported")
    rejected = json.loads(next(line for line in gateway.log().splitlines() if "routing rules rejected" in line))
    assert rejected["reason"] == "SIGHUP"
    assert rejected["errors"] == [
        f"{rules}:{BROKEN_LINE}: rule 'payments-zh': target 1: bad duration 'ten minutes' for timeout "
        "(use e.g. 30s, 10m, 2h, 1d)"
    ]
    assert _get(gateway.port, "/api/v1/routing/rules")["version"] == rules_version(BASE_RULES)

    write(rules, CHANGED_RULES)
    gateway.proc.send_signal(signal.SIGHUP)
    wait_for(
        lambda: _get(gateway.port, "/api/v1/routing/rules")["version"] == rules_version(CHANGED_RULES),
        30,
        "SIGHUP did not reload the rules",
    )
    assert _get(gateway.port, "/api/v1/routing/rules")["loaded_by"] == "SIGHUP"
    assert gateway.proc.poll() is None  # SIGHUP did not stop it


def test_serve_refuses_to_start_on_invalid_rules(tmp_path: Path) -> None:
    rules = tmp_path / "routing.yaml"
    write(rules, BROKEN_RULES)
    config = tmp_path / "gateway.yaml"
    config.write_text(f"routing: {{rules: {rules}}}\nsmtp: {{enabled: false}}\n")
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "gateway: configuration error: routing.rules: the rules file cannot be used:",
        f"{rules}:{BROKEN_LINE}: rule 'payments-zh': target 1: bad duration 'ten minutes' for timeout "
        "(use e.g. 30s, 10m, 2h, 1d)",
    ]


def _broker_queues(vhost: str) -> set[str]:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    out = subprocess.run(
        [ctl, "-q", "list_queues", "-p", vhost, "name"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return {line.strip() for line in out.splitlines() if line.strip() and line.strip() != "name"}


@pytest.mark.rabbitmq
async def test_a_swap_that_adds_a_queue_declares_it_on_rabbitmq(
    aiohttp_client: Any, tmp_path: Path, amqp_url: str, amqp_vhost: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    first_queue, added_queue = f"general-{suffix}", f"fraud-{suffix}"
    base = (
        "version: 1\nskills: [disputes]\n"
        f"queues: {{{first_queue}: {{}}}}\n"
        "agents: {bob: {skills: {disputes: 3}}}\n"
        f"defaults: {{targets: [{{queue: {first_queue}}}]}}\n"
    )
    path = tmp_path / "routing.yaml"
    write(path, base)
    publisher = AmqpPublisher(amqp_url)
    config = gateway_config(routing={"rules": str(path), "reload_interval": "1h"}, broker={"url": amqp_url})
    client: TestClient = await aiohttp_client(build_app(config, store=MemoryStore(), publisher=publisher))
    await eventually(publisher.ready, timeout=30)
    queues = await asyncio.to_thread(_broker_queues, amqp_vhost)
    assert first_queue in queues and added_queue not in queues

    added = base.replace(f"queues: {{{first_queue}: {{}}}}", f"queues: {{{first_queue}: {{}}, {added_queue}: {{}}}}")
    added += f"rules:\n  - name: fraud\n    when: {{keywords: [fraud]}}\n    targets: [{{queue: {added_queue}}}]\n"
    resp = await client.put("/api/v1/routing/rules", data=added.encode(), headers=auth())
    assert resp.status == 200, await resp.text()
    assert added_queue in await asyncio.to_thread(_broker_queues, amqp_vhost)
    assert client.app[SERVICES].router().queues() == [first_queue, added_queue]


def test_the_escalations_queue_must_be_in_the_rules(tmp_path: Path) -> None:
    from gateway.app import build_app
    from gateway.config import ConfigError
    from gateway.routing.rules import RulesError

    path = tmp_path / "routing.yaml"
    write(path, BASE_RULES)
    with pytest.raises(
        ConfigError, match=r"'escalations' is named by the configuration \(reply_tracking\.escalation_queue"
    ):
        build_app(gateway_config(routing={"rules": str(path)}, reply_tracking={"escalation_queue": "escalations"}))
    with pytest.raises(ConfigError, match=r"no queue named escalations \(reply_tracking\.escalation_queue"):
        build_app(gateway_config(reply_tracking={"escalation_queue": "escalations"}))
    # A swap may not drop it either: the rules in force stay.
    with_queue = BASE_RULES.replace("  general: {}", "  general: {}\n  escalations: {}")
    write(path, with_queue)
    loaded = load_at_startup(path, frozenset({"escalations"}))
    manager = RulesManager(
        path=path, holder=RouterHolder(loaded.router), publisher=MemoryPublisher(), initial=loaded,
        required_queues=frozenset({"escalations"}),
    )  # fmt: skip
    with pytest.raises(RulesError, match="escalation_queue"):
        asyncio.run(manager.replace(BASE_RULES.encode()))
    assert manager.current.version == rules_version(with_queue)
    assert path.read_text(encoding="utf-8") == with_queue
