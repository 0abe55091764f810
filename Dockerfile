# Omnichannel message routing gateway. Never built here (the build machines have a docker
# client but no daemon). Build: docker build -t gateway .  See docs/deployment.md.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY config ./config
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin gateway \
    && mkdir -p /var/lib/gateway/attachments \
    && chown -R gateway /var/lib/gateway /app/config

USER 10001
# HTTP (webhooks, API, web chat) and SMTP (inbound mail).
EXPOSE 8080 2525
# Bind to all interfaces inside the container; set real tokens and secrets via the
# environment (the example -dev-tokens are refused off loopback).
ENV GATEWAY_CONFIG=/app/config/gateway.yaml
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
STOPSIGNAL SIGTERM
CMD ["gateway", "serve"]
