# The desk for a deployment on real MongoDB, Redis and Elasticsearch: without the embedded
# servers (the `embedded` extra), as a user of its own, with a health check.
# docker build -t helpdesk .   (compose.yaml runs it against all three)

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE app.py ./
COPY bot bot
COPY embedded embedded
COPY handlers handlers
COPY helpdesk helpdesk
COPY jobs jobs
COPY ticketcore ticketcore
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir .

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 helpdesk
COPY --from=build /venv /venv
WORKDIR /app
COPY flows.yaml macros.yaml ./
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/app/var \
    PORT=8000
RUN mkdir -p /app/var && chown helpdesk /app/var
USER helpdesk
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["helpdesk", "serve", "--host", "0.0.0.0", "--port", "8000"]
