"""Identity verification in the running gateway: the codes' key, the interceptor that
reads answers (asked before every other), the outbound expander and the timers."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable

from aiohttp import web

from gateway.channels.webchat import WebchatChannel
from gateway.channels.webchat.signed import SignedIdentity
from gateway.config import GatewayConfig
from gateway.core.intake_hooks import VERIFY_START
from gateway.model import Channel
from gateway.verification.hold import Hold
from gateway.verification.service import CODE_FLAG, EXPIRE, NOTICE, Verifier
from gateway.wiring.services import Services

log = logging.getLogger(__name__)

VERIFIER = web.AppKey("verifier", Verifier)


def code_secret(config: GatewayConfig) -> bytes:
    """``verification.secret``; else a key derived (one way) from ``webchat_jwt_secret`` or
    the first auth token, the same in every process of one configuration; else a key of
    this process alone (codes then work only where they were asked for)."""
    section = config.verification
    assert section is not None
    if section.secret is not None:
        return section.secret.get_secret_value().encode()
    base = section.webchat_jwt_secret or (config.auth.tokens[0].token if config.auth.tokens else None)
    if base is not None:
        return hmac.new(base.get_secret_value().encode(), b"gateway verification codes", hashlib.sha256).digest()
    log.warning("verification.secret is not set: codes can only be checked by this gateway process")
    return secrets.token_bytes(32)


def verification_part(services: Services, clock: Callable[[], float] = time.time) -> Verifier | None:
    section = services.config.verification
    if section is None:
        return None
    verifier = Verifier(
        config=section,
        store=services.store,
        outbound=services.outbound,
        secret=code_secret(services.config),
        clock=clock,
    )
    services.ingest.interceptors.insert(0, verifier)
    services.outbound.expanders[CODE_FLAG] = verifier.expand
    services.timers.register(EXPIRE, verifier.on_expire)
    services.timers.register(NOTICE, verifier.on_notice)
    services.ingest.verification = verifier
    webchat = services.adapter_for(Channel.WEBCHAT)
    if section.webchat_jwt_secret is not None and isinstance(webchat, WebchatChannel):
        webchat.signed = SignedIdentity(
            section.webchat_jwt_secret.get_secret_value().encode(), leeway=section.jwt_leeway
        )
    services.timers.register(VERIFY_START, Hold(verifier).on_start)
    return verifier
