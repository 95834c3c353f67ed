# pllm: a builder stage makes the wheel (the Rust extension pllm_accel included) with maturin,
# a slim runtime stage installs it into a virtual environment and runs `pllm serve` as an
# unprivileged user. tests/deploy/test_image_steps.py performs these steps without an engine.
#
#   docker build -t pllm .
#   docker run -p 8080:8080 -p 8081:8081 -e PLLM_MASTER_KEY=sk-choose-one pllm

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: Rust toolchain + maturin -> /wheels/pllm-*.whl ------------------------------------
FROM ${PYTHON_IMAGE} AS build
# Cargo.toml's rust-version is 1.94 (aws-smithy-eventstream); the toolchain is pinned here.
ARG RUST_VERSION=1.95.0
ARG MATURIN_VERSION=1.16.0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates build-essential \
 && rm -rf /var/lib/apt/lists/*
ENV RUSTUP_HOME=/opt/rustup CARGO_HOME=/opt/cargo PATH=/opt/cargo/bin:$PATH
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
  | sh -s -- -y --profile minimal --default-toolchain "${RUST_VERSION}" --no-modify-path
RUN pip install --no-cache-dir "maturin==${MATURIN_VERSION}"
WORKDIR /src
COPY Cargo.toml Cargo.lock pyproject.toml README.md ./
COPY rust rust
COPY benches/rust benches/rust
COPY pllm pllm
COPY pllm_accel pllm_accel
RUN maturin build --release --locked --out /wheels

# ---- runtime: the wheel in /opt/pllm, config in /etc/pllm, state in /var/lib/pllm ---------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 pllm \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/pllm --no-create-home \
      --shell /usr/sbin/nologin pllm \
 && mkdir -p /var/lib/pllm /etc/pllm \
 && chown 10001:10001 /var/lib/pllm
COPY --from=build /wheels /wheels
RUN python -m venv /opt/pllm \
 && /opt/pllm/bin/pip install --no-cache-dir /wheels/*.whl \
 && rm -rf /wheels
# The shipped config (mock models; OpenAI and Claude when their keys are set). Mount your own
# over /etc/pllm/config.yaml, or point PLLM_CONFIG elsewhere.
COPY config.yaml /etc/pllm/config.yaml
# The SQLite store and the spend spool; mount a volume here to keep them (or set
# PLLM_DATABASE_URL=postgresql://… to use PostgreSQL).
VOLUME /var/lib/pllm
WORKDIR /var/lib/pllm
# Secrets come by environment at run time: PLLM_MASTER_KEY, PLLM_DATABASE_URL,
# OPENAI_API_KEY, ANTHROPIC_API_KEY, … (the config reads them with ${VAR} / os.environ/VAR).
ENV PATH=/opt/pllm/bin:$PATH \
    PLLM_CONFIG=/etc/pllm/config.yaml \
    PLLM_DATA_DIR=/var/lib/pllm \
    PLLM_ADMIN_HOST=0.0.0.0
USER 10001:10001
# 8080: the OpenAI-compatible API; 8081: the admin API (started when a master key is set);
# 9090: Prometheus metrics (general_settings.metrics_port).
EXPOSE 8080 8081 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/opt/pllm/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"]
# pllm serve drains on SIGTERM: /ready turns 503, the listeners close after
# general_settings.drain_delay, open streams get general_settings.drain_timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["pllm"]
CMD ["serve"]
