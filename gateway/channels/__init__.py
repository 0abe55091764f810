"""Channel adapters: one module per provider — verify, parse, send.

Adapters never import routing or storage: they are handed an ``InboundSink``.
"""
