"""The Twilio adapter: SMS/MMS in and out, WhatsApp through Twilio (``whatsapp:+…``
senders on the SMS webhook, see ``whatsapp_parse``), delivery reports, and the support
phone line.

Every path verifies ``X-Twilio-Signature`` first (``verify``), parses the fields
(``sms_parse``, ``voice_parse``) and answers TwiML (``twiml``, ``voice_twiml``). Messages are
acknowledged only after the sink stored them; the one exception is the live call,
where a caller is waiting: if storage is down at the menu or at the end of the
voicemail, the call still goes on (the topic rides along in the signed callback URLs,
and the recording status callback stores the voicemail again, answering 503 while
storage is down).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from aiohttp import web

from gateway.channels.base import ChannelAdapter, InboundSink, not_started
from gateway.channels.config import BuildContext, secret_text
from gateway.channels.twilio import voice_parse, voice_twiml
from gateway.channels.twilio.config import TwilioConfig, TwilioVoiceConfig
from gateway.channels.twilio.send import WHATSAPP, Sender, TwilioSender
from gateway.channels.twilio.sms_parse import first, parse_sms, parse_status
from gateway.channels.twilio.twiml import empty_twiml, twiml_errors, twiml_response
from gateway.channels.twilio.verify import Fields, TwilioSignature
from gateway.model import Channel, InboundMessage, OutboundRequest, SendResult, ServiceUnavailable

log = logging.getLogger(__name__)


class TwilioChannel(ChannelAdapter):
    name: ClassVar[str] = "twilio"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.SMS, Channel.VOICE, Channel.WHATSAPP)
    can_send: ClassVar[bool] = True

    def __init__(
        self,
        sink: InboundSink,
        *,
        account_sid: str,
        auth_token: str,
        public_url: str,
        voice_settings: TwilioVoiceConfig,
        api_base_url: str = "https://api.twilio.com",
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        signing_key: str | None = None,
        send_timeout: float = 15.0,
        default_region: str | None = None,
    ) -> None:
        super().__init__(sink)
        self.signature = TwilioSignature(auth_token=auth_token, public_url=public_url, signing_key=signing_key)
        self.sender = TwilioSender(
            account_sid=account_sid,
            auth_token=auth_token,
            api_base_url=api_base_url,
            public_url=public_url,
            sender=Sender(messaging_service_sid=messaging_service_sid, from_number=from_number),
            timeout=send_timeout,
        )
        self.voice = voice_settings
        self.urls = voice_twiml.CallbackUrls(public_url)
        self.default_region = default_region

    def __repr__(self) -> str:
        return f"TwilioChannel(public_url={self.signature.public_url!r})"

    def routes(self) -> list[web.AbstractRouteDef]:
        base = voice_twiml.BASE_PATH
        return [
            web.post("/webhooks/twilio/sms", twiml_errors(self.handle_sms)),
            web.post("/webhooks/twilio/status", twiml_errors(self.handle_status)),
            web.post(base, twiml_errors(self.handle_call)),
            web.post(f"{base}/menu", twiml_errors(self.handle_menu)),
            web.post(f"{base}/recording", twiml_errors(self.handle_recording)),
            web.post(f"{base}/recording-status", twiml_errors(self.handle_recording_status)),
            web.post(f"{base}/transcription", twiml_errors(self.handle_transcription)),
            web.post(f"{base}/status", twiml_errors(self.handle_call_status)),
        ]

    def serves(self, channel: Channel, endpoint: str) -> bool:
        """SMS and voice; WhatsApp only for conversations with a Twilio WhatsApp sender."""
        if channel is Channel.WHATSAPP:
            return endpoint.startswith(WHATSAPP)
        return channel in self.channels

    def takes_templates(self, channel: Channel) -> bool:
        return channel is Channel.WHATSAPP  # Twilio Content templates; SMS has none

    def window_allows(self, *, expired_for: float, template: dict[str, Any] | None) -> bool:
        return template is not None  # only WhatsApp conversations have a window

    async def send(self, request: OutboundRequest) -> SendResult:
        if self.http is None:
            return not_started(self.name)
        return await self.sender.send(self.http, request)

    # --- messaging ---------------------------------------------------------------

    async def handle_sms(self, request: web.Request) -> web.Response:
        fields = await self.signature.verify_request(request)
        await self.sink.accept(parse_sms(fields, default_region=self.default_region))
        return twiml_response(empty_twiml())

    async def handle_status(self, request: web.Request) -> web.Response:
        fields = await self.signature.verify_request(request)
        named = request.query.get("channel")
        channel = Channel(named) if named in (Channel.VOICE.value, Channel.WHATSAPP.value) else Channel.SMS
        update = parse_status(fields, channel=channel)
        if update is not None:
            await self.sink.accept_status(update)
        return twiml_response(empty_twiml())

    # --- the phone line ----------------------------------------------------------

    async def handle_call(self, request: web.Request) -> web.Response:
        fields = await self.signature.verify_request(request)
        voice_parse.call_sid(fields)
        if voice_parse.parse_caller(fields, request.query, default_region=self.default_region) is None:
            return twiml_response(voice_twiml.withheld_twiml(self.voice))
        return twiml_response(voice_twiml.menu_twiml(self.voice, self.urls, attempt=1))

    async def handle_menu(self, request: web.Request) -> web.Response:
        fields = await self.signature.verify_request(request)
        caller = voice_parse.parse_caller(fields, request.query, default_region=self.default_region)
        if caller is None:
            return twiml_response(voice_twiml.withheld_twiml(self.voice))
        try:
            attempt = max(1, int(request.query.get("attempt", "1")))
        except ValueError:
            attempt = 1
        choice = voice_parse.parse_choice(
            self.voice, digits=fields.get("Digits") or "", speech=fields.get("SpeechResult") or ""
        )
        if choice is None and attempt < self.voice.menu_attempts:
            return twiml_response(voice_twiml.menu_twiml(self.voice, self.urls, attempt=attempt + 1, apology=True))
        await self._accept_during_call(voice_parse.parse_call(self.voice, fields, caller, choice))
        topic = choice.option.topic if choice else None
        return twiml_response(voice_twiml.voicemail_twiml(self.voice, self.urls, caller, topic))

    async def handle_recording(self, request: web.Request) -> web.Response:
        fields = await self.signature.verify_request(request)
        caller = voice_parse.parse_caller(fields, request.query, default_region=self.default_region)
        message = voice_parse.parse_voicemail(self.voice, fields, request.query, caller) if caller else None
        if message is None:
            return twiml_response(voice_twiml.goodbye_twiml(self.voice, received=False))
        await self._accept_during_call(message)
        return twiml_response(voice_twiml.goodbye_twiml(self.voice))

    async def handle_recording_status(self, request: web.Request) -> web.Response:
        fields = await self.signature.verify_request(request)
        if first(fields, "RecordingStatus").lower() == "completed":
            await self._accept_callback(request, fields, voice_parse.parse_voicemail)
        return twiml_response(empty_twiml())

    async def handle_transcription(self, request: web.Request) -> web.Response:
        fields = await self.signature.verify_request(request)
        await self._accept_callback(request, fields, voice_parse.parse_transcription)
        return twiml_response(empty_twiml())

    async def handle_call_status(self, request: web.Request) -> web.Response:
        fields = await self.signature.verify_request(request)
        status = first(fields, "CallStatus").lower()
        if self.voice.missed_calls and status in voice_parse.TERMINAL_CALL_STATUSES:
            caller = voice_parse.parse_caller(fields, request.query, default_region=self.default_region)
            if caller is not None:
                # Stored under the CallSid: a call that reached the menu is already there.
                await self.sink.accept(voice_parse.parse_missed_call(fields, caller))
        return twiml_response(empty_twiml())

    async def _accept_callback(self, request: web.Request, fields: Fields, build: voice_parse.MessageBuilder) -> None:
        caller = voice_parse.parse_caller(fields, request.query, default_region=self.default_region)
        if caller is None:
            log.warning("twilio voice callback without a usable caller", extra={"path": request.path})
            return
        message = build(self.voice, fields, request.query, caller)
        if message is not None:
            await self.sink.accept(message)

    async def _accept_during_call(self, message: InboundMessage) -> None:
        try:
            await self.sink.accept(message)
        except ServiceUnavailable:
            log.warning(
                "storage unavailable during a call; carrying on, the callbacks store it later",
                extra={"channel": message.channel.value},
            )


def build(config: TwilioConfig, ctx: BuildContext) -> TwilioChannel:
    return TwilioChannel(
        ctx.sink,
        account_sid=config.account_sid,
        auth_token=config.auth_token.get_secret_value(),
        public_url=ctx.public_url,
        voice_settings=config.voice,
        api_base_url=config.api_base_url,
        from_number=config.from_number,
        messaging_service_sid=config.messaging_service_sid,
        signing_key=secret_text(config.webhook_signing_key),
        send_timeout=config.send_timeout,
        default_region=ctx.default_region,
    )
