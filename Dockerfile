# One image for every wsli component (shared/catalogue.py); the container's command picks one:
#   nameko run --config <package dir>/config.yml <package>.service:<Class>
#     e.g. nameko run --config gateway/config.yml gateway.service:GatewayService
#   wsli migrate    (a one-shot job before a rollout, never a replica's start-up)
FROM python:3.11-slim

# PYTHONPATH: the source tree under /app is what runs, for `wsli` as much as for
# `nameko run`, so config paths, migrations and REPO_ROOT all resolve inside /app.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

WORKDIR /app

# The CJK font the document kit embeds in PDFs (shared/documents.py): without it a
# certificate cannot be rendered.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

# Pinned dependencies first: this layer survives code changes.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY gateway ./gateway
# --no-deps: everything it needs is pinned above; this adds the `wsli` command.
# Byte-compile here because the running container may not write to /app.
# The smoke run fails the build early: nameko's CLI needs pkg_resources (setuptools),
# which requirements.lock does not pin and which newer base images no longer ship.
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q shared services gateway \
    && nameko --version >/dev/null \
    && wsli --help >/dev/null

# A fixed numeric uid so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 wsli \
    && useradd --system --uid 10001 --gid wsli --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin wsli \
    && mkdir -p var/files \
    && chown -R wsli:wsli var
USER 10001:10001

# The gateway's HTTP port (GATEWAY_ADDRESS); services only talk AMQP.
EXPOSE 8000

# No default component: compose and the manifests name one in their command.
CMD ["wsli", "--help"]
