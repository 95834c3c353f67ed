# pllm: build the wheel (Rust extension included) in one stage, run it from a slim image.
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
ENV PATH=/root/.cargo/bin:$PATH
RUN pip install --no-cache-dir 'maturin>=1.9,<2'
WORKDIR /src
COPY Cargo.toml Cargo.lock pyproject.toml README.md ./
COPY rust rust
COPY benches/rust benches/rust
COPY pllm pllm
COPY pllm_accel pllm_accel
RUN maturin build --release --out /wheels

FROM python:3.11-slim
RUN useradd --system --uid 10001 pllm
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY config.yaml /etc/pllm/config.yaml
RUN mkdir -p /var/lib/pllm && chown pllm /var/lib/pllm
# The SQLite store and the spend spool; mount a volume here to keep them.
VOLUME /var/lib/pllm
ENV PLLM_CONFIG=/etc/pllm/config.yaml PLLM_DATA_DIR=/var/lib/pllm PLLM_ADMIN_HOST=0.0.0.0
USER pllm
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"
ENTRYPOINT ["pllm"]
CMD ["serve"]
