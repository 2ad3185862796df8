# The clever-login image: `clever-login serve` as a non-root user, ready for a read-only root
# filesystem. Build from the repository root:  docker build -t clever-login:0.1.0 .
#
# Both stages use the same base so the venv built in the first runs unchanged in the second (its
# interpreter links point at /usr/local/bin/python3.11). Pinned by tag here; for production pin the
# digest as well (python:3.11-slim-bookworm@sha256:...) so a rebuild cannot pick up a different base.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: a venv with the runtime dependencies (from the lock), then the package ----------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when the declared dependencies or their
# pins change, not on every source edit. constraints.txt is the lock; only the runtime dependencies
# of `[project] dependencies` are installed (neither the `dev` nor the `embedded` extra).
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements-runtime.txt \
    && pip install --no-cache-dir --constraint constraints.txt --requirement requirements-runtime.txt

# Then the package itself, without touching the dependencies installed above.
COPY README.md ./
COPY app ./app
RUN pip install --no-cache-dir --no-deps . \
    && pip check \
    && pip uninstall --yes pip setuptools

# ---- runtime ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="clever-login" \
      org.opencontainers.image.description="Log in with Clever: OAuth, roles and roster, and application sessions in Redis" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# A fixed numeric UID/GID, so `runAsUser`/`runAsNonRoot` and file ownership are predictable.
RUN groupadd --system --gid 10001 clever \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin clever

# Only the venv: the package and its dependencies, already byte-compiled. No source tree, no build
# tools, no pip cache. Owned by root, so the service cannot modify its own code.
COPY --from=builder /opt/venv /opt/venv

# Nothing is written outside /tmp (an emptyDir in the chart): no .pyc files at run time, and logs
# go to stdout/stderr unbuffered. The working directory stays /, which nobody can write to.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10001:10001

EXPOSE 8000

# uvicorn drains open requests on SIGTERM (`--timeout-graceful-shutdown`, 20 s by default).
STOPSIGNAL SIGTERM

# For `docker run` and compose. Kubernetes ignores HEALTHCHECK; the chart uses httpGet probes on
# /healthz and /readyz instead. Liveness only (/healthz never depends on Redis or Clever), with the
# interpreter already in the image rather than curl (`-I`: nothing from the working directory or
# PYTHON* variables is imported). It assumes the default port: change it together
# with `--port`. (Buildah keeps HEALTHCHECK only with `--format docker`.)
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-I", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

ENTRYPOINT ["clever-login"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
