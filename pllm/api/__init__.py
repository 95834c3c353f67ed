"""HTTP surfaces: the OpenAI-compatible API and health probes."""
