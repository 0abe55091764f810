"""The feedback form's channel (``form``): a conversation begun on ``/feedback``, answered
by email or SMS."""

from gateway.channels.form.channel import FormChannel

__all__ = ["FormChannel"]
