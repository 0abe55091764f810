"""Twilio: SMS/MMS, delivery reports and a support phone line.

``webhook`` reads and verifies requests and answers TwiML, ``sms`` and ``voice`` turn
them into domain types, ``send`` delivers replies, ``channel`` wires the paths.
"""

from gateway.channels.twilio.channel import TwilioChannel

__all__ = ["TwilioChannel"]
