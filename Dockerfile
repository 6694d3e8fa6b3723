# canary-engine: `canary` as the entry point, e.g.
#   docker run --rm -v "$PWD:/work" -w /work canary-engine analyze canary.yaml --data data.csv
#   docker run -p 8080:8080 -v "$PWD/configs:/configs:ro" -e CANARY_SERVE_TOKEN=... canary-engine \
#       serve --config-dir /configs --host 0.0.0.0 --port 8080 --db /data/canary-serve.db
# Two stages: wheels are built in the first, only the installed package is kept in the second (no compilers,
# no pip cache), and it runs as an unprivileged user.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY analysis ./analysis
COPY judges ./judges
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels ".[serve]"

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links=/wheels "canary-engine[serve]" \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin canary \
    && mkdir -p /data && chown canary /data
COPY scripts/ci-analyze.sh /usr/local/bin/canary-ci
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["canary"]
CMD ["--help"]
