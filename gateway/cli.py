"""The ``gateway`` command: ``serve``, ``rules check``, ``rules simulate``, ``cases check``,
``search reindex``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import uvloop
from aiohttp import web

from gateway import logs
from gateway.cases.cli import add_cases_commands
from gateway.config import ConfigError, GatewayConfig, load_config, secret_values
from gateway.core.search_cli import add_search_commands
from gateway.routing.cli import add_rules_commands

log = logging.getLogger("gateway")


async def _serve(config: GatewayConfig) -> None:
    from gateway.app import build_app
    from gateway.web.slow_clients import runner_options
    from gateway.wiring.rules_watch import RULES
    from gateway.wiring.services import SERVICES

    app = build_app(config)
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=config.http.shutdown_grace,
        handle_signals=False,
        **runner_options(config.http.header_timeout),
    )
    await runner.setup()
    site = web.TCPSite(runner, config.http.host, config.http.port, reuse_address=True)
    await site.start()
    log.info("listening", extra={"http": f"http://{config.http.host}:{config.http.port}"})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    rules = app.get(RULES)
    if rules is not None:
        loop.add_signal_handler(signal.SIGHUP, rules.request_reload)
    await stop.wait()
    log.info("stopping")
    app[SERVICES].stopping = True
    await runner.cleanup()


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.log.level, config.log.format, secrets=secret_values(config))
    try:
        # uvloop: the same asyncio API with the loop and its sockets in C, a cheaper
        # event loop for every message (BENCHMARKS.md, "Intake CPU").
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(config))
    except ConfigError as exc:  # e.g. an invalid routing rules file
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the port is taken
        print(f"gateway: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Omnichannel message routing gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument(
        "--config", type=Path, default=None, help="config file (default: $GATEWAY_CONFIG, else config/gateway.yaml)"
    )
    serve.set_defaults(func=cmd_serve)
    add_rules_commands(sub)
    add_cases_commands(sub)
    add_search_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
