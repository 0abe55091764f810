"""Twilio: SMS/MMS, delivery reports and a support phone line.

``verify`` checks the signature and reads the fields, ``sms_parse`` and ``voice_parse``
turn them into domain types, ``twiml`` and ``voice_twiml`` answer, ``send`` delivers
replies, ``channel`` holds the adapter (its paths, ``send`` and ``build``), ``config``
the ``channels.twilio`` section.
"""

from gateway.channels.twilio.channel import TwilioChannel, build
from gateway.channels.twilio.config import TwilioConfig

__all__ = ["TwilioChannel", "TwilioConfig", "build"]
