"""The phone line's TwiML: the bilingual greeting and menu, the voicemail prompt, goodbyes,
and the callback URLs they point Twilio at.

A call goes: ``/voice`` answers with the greeting and the menu (``<Gather>``, keypad or
speech) → ``/voice/menu`` gets the choice and answers with the voicemail prompt
(``<Record>``) → ``/voice/recording`` (and ``/voice/recording-status``) store the
voicemail → ``/voice/transcription`` adds the transcript later. ``/voice/status`` (the
number's call status callback) stores a call that ended before any choice.
Pure: builders of XML text.
"""

from __future__ import annotations

from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from gateway.channels.twilio.config import TwilioMenuOption, TwilioVoiceConfig
from gateway.channels.twilio.voice_parse import Caller

BASE_PATH = "/webhooks/twilio/voice"
KEY_NAMES = {"*": ("星号键", "star"), "#": ("井号键", "pound")}


def option_prompt(option: TwilioMenuOption) -> tuple[str, str]:
    zh_key, en_key = KEY_NAMES.get(option.digit, (option.digit, option.digit))
    return (
        option.prompt_zh or f"{option.label_zh}请按{zh_key}。",
        option.prompt_en or f"For {option.label_en}, press {en_key}.",
    )


def speech_hints(settings: TwilioVoiceConfig) -> str:
    words: list[str] = []
    for option in settings.options:
        for word in (*option.keywords, option.label_en, option.label_zh):
            if word and word not in words:
                words.append(word)
    return ", ".join(words)[:4000]


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


def _say_both(node: VoiceResponse, settings: TwilioVoiceConfig, zh: str, en: str) -> None:
    node.say(zh, voice=settings.voice_zh, language=settings.language_zh)
    node.say(en, voice=settings.voice_en, language=settings.language_en)


def menu_twiml(settings: TwilioVoiceConfig, urls: CallbackUrls, *, attempt: int = 1, apology: bool = False) -> str:
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


def voicemail_twiml(settings: TwilioVoiceConfig, urls: CallbackUrls, caller: Caller, topic: str | None) -> str:
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


def goodbye_twiml(settings: TwilioVoiceConfig, *, received: bool = True) -> str:
    response = VoiceResponse()
    if received:
        _say_both(response, settings, settings.thanks_zh, settings.thanks_en)
    else:
        _say_both(response, settings, settings.no_message_zh, settings.no_message_en)
    response.hangup()
    return str(response)


def withheld_twiml(settings: TwilioVoiceConfig) -> str:
    response = VoiceResponse()
    _say_both(response, settings, settings.withheld_zh, settings.withheld_en)
    response.hangup()
    return str(response)
