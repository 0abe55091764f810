"""Omnichannel message routing gateway."""
