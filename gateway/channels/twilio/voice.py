"""The support phone line: a bilingual menu, a voicemail, and what a call leaves behind.

A call goes: ``/voice`` answers with the greeting and the menu (``<Gather>``, keypad or
speech) → ``/voice/menu`` gets the choice, stores the call as one message (dedupe key:
the ``CallSid``) whose conversation attribute carries the choice for routing, and
answers with the voicemail prompt (``<Record>``) → ``/voice/recording`` (and
``/voice/recording-status``) store the voicemail (key: the ``RecordingSid``) →
``/voice/transcription`` adds the transcript later (key: the ``TranscriptionSid``).
``/voice/status`` (the number's call status callback) stores a call that ended before
any choice, under the same ``CallSid``, so a call is one message whichever came first.

Our callback URLs carry the caller, the number called and the topic in their query;
Twilio signs the URL with its query, so they are as trustworthy as the form fields and
fill in what some callbacks (recording status) do not send.

Everything here is pure: TwiML builders and webhook fields → ``InboundMessage``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from gateway.channels.base import RequestRejected
from gateway.channels.twilio.sms import first, our_number
from gateway.channels.twilio.webhook import Fields
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Attachment, Channel, Identity, IdentityKind, InboundMessage

BASE_PATH = "/webhooks/twilio/voice"
# What carriers put in From when the caller hides their number (they spell ANONYMOUS,
# RESTRICTED, BLOCKED, UNKNOWN, UNAVAILABLE on a keypad); never a person to remember.
WITHHELD = {
    "anonymous",
    "restricted",
    "blocked",
    "unknown",
    "unavailable",
    "private",
    "+266696687",
    "+7378742833",
    "+2562533",
    "+8656696",
    "+86282452253",
}
TERMINAL_CALL_STATUSES = {"completed", "busy", "no-answer", "failed", "canceled"}
DIGIT_WORDS: dict[str, tuple[str, ...]] = {
    "0": ("zero", "oh", "零", "〇"),
    "1": ("one", "一", "幺"),
    "2": ("two", "二", "两"),
    "3": ("three", "三"),
    "4": ("four", "四"),
    "5": ("five", "五"),
    "6": ("six", "六"),
    "7": ("seven", "七"),
    "8": ("eight", "八"),
    "9": ("nine", "九"),
    "*": ("star", "星号"),
    "#": ("pound", "hash", "井号"),
}
KEY_NAMES = {"*": ("星号键", "star"), "#": ("井号键", "pound")}
_NOISE = re.compile(r"[\s.,!?;:，。！？；：、\"'“”‘’]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


class MenuOption(Protocol):
    digit: str
    topic: str
    label_zh: str
    label_en: str
    prompt_zh: str | None
    prompt_en: str | None
    keywords: list[str]


class VoiceSettings(Protocol):
    """``channels.twilio.voice`` (see ``gateway.config.TwilioVoiceConfig``)."""

    attribute: str
    greeting_zh: str
    greeting_en: str

    @property
    def options(self) -> Sequence[MenuOption]: ...

    retry_zh: str
    retry_en: str
    voicemail_zh: str
    voicemail_en: str
    thanks_zh: str
    thanks_en: str
    no_message_zh: str
    no_message_en: str
    withheld_zh: str
    withheld_en: str
    voice_zh: str | None
    language_zh: str
    voice_en: str | None
    language_en: str
    speech_language: str
    gather_timeout: int
    menu_attempts: int
    max_recording_seconds: int
    transcribe: bool
    missed_calls: bool


@dataclass(frozen=True)
class Choice:
    option: MenuOption
    by: str  # "dtmf" | "speech"
    speech: str = ""


@dataclass(frozen=True)
class Caller:
    """Who called which of our numbers, from the form or else our signed query."""

    identity: Identity
    number_called: str
    name: str | None = None


MessageBuilder = Callable[[VoiceSettings, Fields, Fields, Caller], InboundMessage | None]


def option_prompt(option: MenuOption) -> tuple[str, str]:
    zh_key, en_key = KEY_NAMES.get(option.digit, (option.digit, option.digit))
    return (
        option.prompt_zh or f"{option.label_zh}请按{zh_key}。",
        option.prompt_en or f"For {option.label_en}, press {en_key}.",
    )


def speech_hints(settings: VoiceSettings) -> str:
    words: list[str] = []
    for option in settings.options:
        for word in (*option.keywords, option.label_en, option.label_zh):
            if word and word not in words:
                words.append(word)
    return ", ".join(words)[:4000]


def choose(settings: VoiceSettings, *, digits: str, speech: str) -> Choice | None:
    """The option a keypress or an utterance picks, if any.

    Speech is matched by the options' keywords first (in configured order), then as a
    bare digit ("1", "one", "一"): a lone 一 inside a sentence (查一下) is not a choice.
    """
    digits = digits.strip()
    if digits:
        option = next((o for o in settings.options if o.digit == digits[:1]), None)
        return Choice(option=option, by="dtmf") if option else None
    said = speech.strip()
    if not said:
        return None
    lowered = said.lower()
    for option in settings.options:
        if any(k and k.lower() in lowered for k in option.keywords):
            return Choice(option=option, by="speech", speech=said)
    bare = _NOISE.sub("", lowered).removeprefix("number").removeprefix("按")
    for option in settings.options:
        if bare == option.digit or bare in DIGIT_WORDS.get(option.digit, ()):
            return Choice(option=option, by="speech", speech=said)
    return None


def language_of(text: str) -> str | None:
    if _CJK.search(text):
        return "zh"
    if _LATIN.search(text):
        return "en"
    return None


class CallbackUrls:
    """The absolute URLs our TwiML points Twilio at (what Twilio will sign)."""

    def __init__(self, public_url: str) -> None:
        self.base = public_url.rstrip("/") + BASE_PATH

    def menu(self, attempt: int) -> str:
        return f"{self.base}/menu?{urlencode({'attempt': attempt})}"

    def _with(self, path: str, caller: Caller, topic: str | None) -> str:
        query = {"from": caller.identity.value, "to": caller.number_called}
        if topic:
            query["topic"] = topic
        return f"{self.base}/{path}?{urlencode(query)}"

    def recording(self, caller: Caller, topic: str | None) -> str:
        return self._with("recording", caller, topic)

    def recording_status(self, caller: Caller, topic: str | None) -> str:
        return self._with("recording-status", caller, topic)

    def transcription(self, caller: Caller, topic: str | None) -> str:
        return self._with("transcription", caller, topic)


def _say_both(node: VoiceResponse, settings: VoiceSettings, zh: str, en: str) -> None:
    node.say(zh, voice=settings.voice_zh, language=settings.language_zh)
    node.say(en, voice=settings.voice_en, language=settings.language_en)


def menu_twiml(settings: VoiceSettings, urls: CallbackUrls, *, attempt: int = 1, apology: bool = False) -> str:
    """Greeting and menu in Chinese then English, listening for a key or speech while
    speaking; silence falls through to the ``Redirect``, i.e. the menu step without input."""
    prompts = [option_prompt(o) for o in settings.options]
    zh = "".join(p[0] for p in prompts)
    en = " ".join(p[1] for p in prompts)
    if apology:
        zh, en = settings.retry_zh + zh, f"{settings.retry_en} {en}"
    else:
        zh, en = settings.greeting_zh + zh, f"{settings.greeting_en} {en}"
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf speech",
        action=urls.menu(attempt),
        method="POST",
        num_digits=1,
        timeout=settings.gather_timeout,
        speech_timeout="auto",
        hints=speech_hints(settings),
        language=settings.speech_language,
    )
    _say_both(gather, settings, zh, en)
    response.redirect(urls.menu(attempt), method="POST")
    return str(response)


def voicemail_twiml(settings: VoiceSettings, urls: CallbackUrls, caller: Caller, topic: str | None) -> str:
    """The voicemail prompt and ``<Record>``. An empty recording skips the action and
    falls through to the goodbye after it."""
    response = VoiceResponse()
    _say_both(response, settings, settings.voicemail_zh, settings.voicemail_en)
    response.record(
        action=urls.recording(caller, topic),
        method="POST",
        max_length=settings.max_recording_seconds,
        finish_on_key="#",
        play_beep=True,
        timeout=5,
        transcribe=settings.transcribe,
        transcribe_callback=urls.transcription(caller, topic) if settings.transcribe else None,
        recording_status_callback=urls.recording_status(caller, topic),
        recording_status_callback_method="POST",
        recording_status_callback_event="completed",
    )
    _say_both(response, settings, settings.no_message_zh, settings.no_message_en)
    response.hangup()
    return str(response)


def goodbye_twiml(settings: VoiceSettings, *, received: bool = True) -> str:
    response = VoiceResponse()
    if received:
        _say_both(response, settings, settings.thanks_zh, settings.thanks_en)
    else:
        _say_both(response, settings, settings.no_message_zh, settings.no_message_en)
    response.hangup()
    return str(response)


def withheld_twiml(settings: VoiceSettings) -> str:
    response = VoiceResponse()
    _say_both(response, settings, settings.withheld_zh, settings.withheld_en)
    response.hangup()
    return str(response)


def call_sid(fields: Fields) -> str:
    sid = first(fields, "CallSid")
    if not sid or len(sid) > 64:
        raise RequestRejected(422, "invalid", "CallSid: missing or too long")
    return sid


def caller_of(fields: Fields, query: Fields, *, default_region: str | None) -> Caller | None:
    """The caller as a phone identity; None when the number is withheld or not a number
    (a SIP client), since such a caller cannot be told apart from the next one."""
    raw = first(fields, "From") or (query.get("from") or "").strip()
    if not raw or raw.lower() in WITHHELD or raw.lower().startswith("sip:"):
        return None
    try:
        identity = make_identity(IdentityKind.PHONE, raw, default_region=default_region)
    except InvalidIdentity:
        return None
    if identity.value in WITHHELD:
        return None
    called = first(fields, "To") or (query.get("to") or "").strip()
    return Caller(
        identity=identity, number_called=our_number(called, default_region), name=first(fields, "CallerName") or None
    )


def _message(
    caller: Caller,
    *,
    external_id: str,
    text: str,
    attributes: dict[str, str],
    meta: dict[str, str],
    attachments: list[Attachment] | None = None,
    language: str | None = None,
) -> InboundMessage:
    return InboundMessage(
        channel=Channel.VOICE,
        external_id=external_id,
        endpoint=caller.number_called,
        sender=caller.identity,
        sender_name=caller.name,
        text=text,
        attachments=attachments or [],
        language_hint=language,
        conversation_attributes=attributes,
        meta={k: v for k, v in meta.items() if v},
    )


def call_message(settings: VoiceSettings, fields: Fields, caller: Caller, choice: Choice | None) -> InboundMessage:
    """The call itself: ``Incoming call, chose 1 payments (付款问题)``."""
    sid = call_sid(fields)
    if choice is None:
        return _message(
            caller,
            external_id=sid,
            text="Incoming call, no menu choice",
            attributes={},
            meta={"call_sid": sid},
        )
    option = choice.option
    text = f"Incoming call, chose {option.digit} {option.label_en} ({option.label_zh})"
    if choice.speech:
        text += f", saying “{choice.speech}”"
    return _message(
        caller,
        external_id=sid,
        text=text,
        attributes={settings.attribute: option.topic},
        meta={
            "call_sid": sid,
            "menu_digit": option.digit,
            "menu_input": choice.by,
            "speech": choice.speech,
            "speech_confidence": first(fields, "Confidence"),
        },
        language=language_of(choice.speech) if choice.speech else None,
    )


def missed_call_message(fields: Fields, caller: Caller) -> InboundMessage:
    """A call that ended before any choice (from the call status callback)."""
    sid = call_sid(fields)
    status = first(fields, "CallStatus").lower()
    duration = first(fields, "CallDuration")
    text = "Missed call: the caller hung up before choosing from the menu"
    if status and status != "completed":
        text = f"Missed call ({status})"
    if duration:
        text += f", {duration} s"
    return _message(caller, external_id=sid, text=text, attributes={}, meta={"call_sid": sid, "call_status": status})


def recording_sid_of(fields: Fields) -> str:
    """``RecordingSid``, else the last segment of ``RecordingUrl`` (…/Recordings/RE…)."""
    sid = first(fields, "RecordingSid")
    if sid:
        return sid
    tail = first(fields, "RecordingUrl").rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0]
    return tail if tail.startswith("RE") else ""


def _audio_type(url: str) -> str:
    return "audio/mpeg" if url.lower().endswith(".mp3") else "audio/wav"


def _topic_attributes(settings: VoiceSettings, query: Fields) -> dict[str, str]:
    topic = (query.get("topic") or "").strip()
    return {settings.attribute: topic[:64]} if topic else {}


def voicemail_message(settings: VoiceSettings, fields: Fields, query: Fields, caller: Caller) -> InboundMessage | None:
    """The recording as a message with the audio attached; None for an empty one."""
    url = first(fields, "RecordingUrl")
    duration = first(fields, "RecordingDuration", "Duration")
    if not url or duration in ("0", "-1"):
        return None
    sid = recording_sid_of(fields)
    call = first(fields, "CallSid")
    if not sid and not call:
        raise RequestRejected(422, "invalid", "RecordingSid: missing (and no CallSid to derive one from)")
    external_id = sid or f"{call}:recording"
    text = f"Voicemail ({duration} s)" if duration else "Voicemail"
    return _message(
        caller,
        external_id=external_id,
        text=text,
        attributes=_topic_attributes(settings, query),
        attachments=[
            Attachment(
                url=url,
                content_type=_audio_type(url),
                media_id=sid or None,
                name=f"{external_id}.{_audio_type(url).rsplit('/', 1)[-1].replace('mpeg', 'mp3')}",
            )
        ],
        meta={"call_sid": call, "recording_sid": sid, "recording_duration": duration},
    )


def transcription_message(
    settings: VoiceSettings, fields: Fields, query: Fields, caller: Caller
) -> InboundMessage | None:
    """The voicemail's transcript; None while it is not a completed, non-empty one."""
    status = first(fields, "TranscriptionStatus").lower()
    text = (fields.get("TranscriptionText") or "").strip()
    if status != "completed" or not text:
        return None
    transcription = first(fields, "TranscriptionSid")
    recording = recording_sid_of(fields)
    call = first(fields, "CallSid")
    if transcription:
        external_id = transcription
    elif recording or call:
        external_id = f"{recording or call}:transcription"
    else:
        raise RequestRejected(422, "invalid", "TranscriptionSid: missing (and no RecordingSid or CallSid)")
    return _message(
        caller,
        external_id=external_id,
        text=f"Voicemail transcription: {text}",
        attributes=_topic_attributes(settings, query),
        meta={"call_sid": call, "recording_sid": recording, "transcription_sid": transcription},
        language=language_of(text),
    )
