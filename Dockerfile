# One image for the three deployables; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY contract ./contract
COPY edge ./edge
COPY central ./central
COPY simulators ./simulators
COPY harness ./harness
COPY bench ./bench
RUN pip install ".[influx]" \
    && useradd --system --uid 10001 --home-dir /nonexistent canteen \
    && mkdir -p /var/lib/canteen-edge /var/lib/canteen-central /var/lib/canteen-sim \
    && chown canteen /var/lib/canteen-edge /var/lib/canteen-central /var/lib/canteen-sim

USER canteen
EXPOSE 8000
CMD ["canteen-central", "serve"]
