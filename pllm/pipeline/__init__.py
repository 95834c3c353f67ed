"""The request path: one module (:mod:`pllm.pipeline.path`) that reads a model call top to
bottom, and the steps it calls (forward, relay, disconnect watch)."""

from pllm.pipeline.path import account, serve

__all__ = ["account", "serve"]
