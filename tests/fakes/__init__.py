"""Test doubles used by pllm's test suite (fake upstream servers)."""
