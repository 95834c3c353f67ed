"""schemathesis hooks for tests/hardening (loaded through ``SCHEMATHESIS_HOOKS``).

One check replaces schemathesis's ``positive_data_acceptance``, which the run excludes: the
same check, except that a 400 whose code is one of :data:`pllm.api.openapi.RULE_CODES` is an
accepted answer to a request that matches the document. Those are the rules JSON Schema
cannot state (two fields that contradict each other, a reference to a user that does not
exist, a model with no deployment for the endpoint); both documents name them in their 400
responses. Every other 400 to a schema-valid request still fails the run.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from pllm.api.openapi import RULE_CODES

# On /v1/messages errors are Anthropic-shaped, without a code: the one rule that reaches them
# (unsupported_endpoint) is told by its message (pllm.routing.engine.RoutingEngine.capable).
_UNSUPPORTED = "does not support /v1/"


def _rule(body: bytes) -> bool:
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    if not isinstance(error, dict):
        return False
    if error.get("code") in RULE_CODES:
        return True
    return "code" not in error and _UNSUPPORTED in str(error.get("message", ""))


@schemathesis.check
def positive_data_acceptance_but_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code == 400 and _rule(response.content):
        return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result
