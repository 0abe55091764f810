"""Channel adapters: one package per provider, every package the same shape.

* ``config.py``  — its section of ``gateway.yaml`` (``channels.<name>``) as a pydantic
  model; ``gateway.config`` composes the sections, and the channel never imports it.
* ``verify.py``  — ``verify_*``: is the request from the provider? 401 when the
  signature (or secret) is missing, 403 when it is wrong (``signatures.py``).
* ``parse.py`` (or ``<kind>_parse.py``) — ``parse_*``: the verified payload →
  ``InboundMessage`` / ``StatusUpdate``; pure.
* ``channel.py`` — the adapter: its paths (verify → parse → hand to the sink), ``send``
  for replies, and ``build(config, ctx)`` that makes it from its section.

Email (SMTP, not a webhook) and web chat (a websocket) have the same ``config``,
``parse`` and ``channel``/``send``/``build``. Shared: ``base`` (the adapter, the sink,
send results, the provider HTTP call), ``config`` (section building blocks and the
``BuildContext``), ``signatures``, ``fields`` and ``textparts``.

Adapters never import routing, storage or the config module: they are handed an
``InboundSink`` and whatever else their ``BuildContext`` lends them.
"""
