"""A call's webhooks as domain types: who called, what they chose, and the messages a
call leaves behind. Pure: the fields are already verified, nothing is stored here.

A call is one message (dedupe key: the ``CallSid``) whose conversation attribute carries
the menu choice for routing, whether it came from the menu step or, for a call that
ended before any choice, from the call status callback. The voicemail is another
(``RecordingSid``), its transcript a third (``TranscriptionSid``).

Our callback URLs carry the caller, the number called and the topic in their query;
Twilio signs the URL with its query, so they are as trustworthy as the form fields and
fill in what some callbacks (recording status) do not send.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from gateway.channels.twilio.config import TwilioMenuOption, TwilioVoiceConfig
from gateway.channels.twilio.sms_parse import first, our_number
from gateway.channels.twilio.verify import Fields
from gateway.errors import RequestRejected
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Attachment, Channel, Identity, IdentityKind, InboundMessage

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
_NOISE = re.compile(r"[\s.,!?;:，。！？；：、\"'“”‘’]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class Choice:
    option: TwilioMenuOption
    by: str  # "dtmf" | "speech"
    speech: str = ""


@dataclass(frozen=True)
class Caller:
    """Who called which of our numbers, from the form or else our signed query."""

    identity: Identity
    number_called: str
    name: str | None = None


MessageBuilder = Callable[[TwilioVoiceConfig, Fields, Fields, Caller], InboundMessage | None]


def parse_choice(settings: TwilioVoiceConfig, *, digits: str, speech: str) -> Choice | None:
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


def call_sid(fields: Fields) -> str:
    sid = first(fields, "CallSid")
    if not sid or len(sid) > 64:
        raise RequestRejected(422, "invalid", "CallSid: missing or too long")
    return sid


def parse_caller(fields: Fields, query: Fields, *, default_region: str | None) -> Caller | None:
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


def parse_call(settings: TwilioVoiceConfig, fields: Fields, caller: Caller, choice: Choice | None) -> InboundMessage:
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


def parse_missed_call(fields: Fields, caller: Caller) -> InboundMessage:
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


def _topic_attributes(settings: TwilioVoiceConfig, query: Fields) -> dict[str, str]:
    topic = (query.get("topic") or "").strip()
    return {settings.attribute: topic[:64]} if topic else {}


def parse_voicemail(
    settings: TwilioVoiceConfig, fields: Fields, query: Fields, caller: Caller
) -> InboundMessage | None:
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


def parse_transcription(
    settings: TwilioVoiceConfig, fields: Fields, query: Fields, caller: Caller
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
