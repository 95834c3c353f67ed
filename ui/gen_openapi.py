"""Writes the admin API's OpenAPI document to ui/openapi.json (``make ui`` runs it, then
openapi-typescript turns it into src/api/schema.d.ts, so the UI's client cannot drift from
the API; tests/ui/test_serving.py checks the committed copy is current)."""

import sys
from pathlib import Path

from pllm.admin.app import AdminApp
from pllm.admin.openapi import admin_document
from pllm.config.schema import Settings


def document() -> bytes:
    return admin_document(AdminApp(Settings(file="config.yaml", deployments=())).routes)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("openapi.json"))
    out.write_bytes(document())
