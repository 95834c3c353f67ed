"""Upstream providers: one interface, OpenAI-compatible services as rows of a table."""
