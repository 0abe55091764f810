"""The email channel (SMTP in, relay out). See ``adapter`` for the whole picture."""

from gateway.channels.email.adapter import AUTO_FLAG, EmailChannel

__all__ = ["AUTO_FLAG", "EmailChannel"]
