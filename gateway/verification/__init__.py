"""Identity verification for sensitive matters (docs/verification.md): one-time codes by
SMS or email that the customer answers on any of their channels (``codes``, ``service``),
and web chat visitors signed in by the site with a JWT (``webchat_jwt``)."""
