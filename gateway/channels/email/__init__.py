"""The email channel: SMTP in, relay out.

``smtp`` receives, ``parse`` and ``inbound`` read a mail (with ``headers``,
``charsets``, ``html_text``, ``quotes``, ``guards`` and ``attachments``), ``tokens``
and ``thread_context`` thread replies, ``send`` composes and relays, ``channel`` holds
the adapter (``send`` and ``build``), ``config`` the ``smtp`` and ``channels.email``
sections.
"""

from gateway.channels.email.channel import EmailChannel, build
from gateway.channels.email.config import EmailChannelConfig, EmailSections, SmtpConfig

__all__ = ["EmailChannel", "EmailChannelConfig", "EmailSections", "SmtpConfig", "build"]
