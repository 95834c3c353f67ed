"""JSON-lines logs on stderr.

Each line is one JSON object with ``ts``, ``level``, ``logger``, ``msg`` and the fields passed
as ``extra={"fields": {...}}`` (the request id among them). Callers pass only what is safe to
log: never prompt text, API keys or authorization headers.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["exc"] = self.formatException(record.exc_info)
        return _encode(line).decode()


def configure_logging(level: str) -> None:
    root = logging.getLogger("pllm")
    root.setLevel(level.upper())
    root.propagate = False
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
