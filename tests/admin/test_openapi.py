"""The admin API's OpenAPI document lists every route; Swagger UI is served from the package."""

from __future__ import annotations

import msgspec

from pllm.admin.app import AdminApp
from pllm.admin.periods import DURATION_PATTERN
from pllm.admin.schemas import ID_PATTERN, MAX_TIMESTAMP
from pllm.api import validation
from pllm.api.openapi import RULE_CODES, main_document, swagger_available, swagger_html
from tests.admin.client import Client


def test_document_lists_every_route(client: Client, app: AdminApp) -> None:
    r = client.get("/openapi.json", key=None)
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["openapi"] == "3.1.0"
    listed = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert listed == {(route.method, route.path) for route in app.routes}
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_document_schemas_resolve_and_describe_inputs(client: Client) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    text = msgspec.json.encode(doc).decode()
    for ref in set(text.split('"$ref":"')[1:]):
        name = ref.split('"')[0].removeprefix("#/components/schemas/")
        assert name in schemas, name
    create = doc["paths"]["/admin/keys"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/KeyCreate"
    }
    assert schemas["KeyCreate"]["additionalProperties"] is False
    assert schemas["KeyCreate"]["properties"]["rpm"]["anyOf"][0]["minimum"] == 1
    assert set(create["responses"]) >= {"201", "400", "401", "403", "503"}
    params = {p["name"]: p for p in doc["paths"]["/admin/keys"]["get"]["parameters"]}
    assert set(params) == {"user_id", "group_id", "include_revoked", "limit", "offset"}
    assert all(p["in"] == "query" for p in params.values())
    usage = {p["name"] for p in doc["paths"]["/admin/usage"]["get"]["parameters"]}
    assert {"group_by", "id", "from", "to"} <= usage
    assert doc["paths"]["/openapi.json"]["get"]["security"] == []
    assert "LiteLLM" in {t["name"] for t in doc["tags"]}


def test_swagger_ui_is_served_without_internet(client: Client) -> None:
    assert swagger_available()
    page = client.get("/swagger", key=None)
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    html = page.body.decode()
    assert '"/openapi.json"' in html and "http" not in html.replace("http-equiv", "")
    for asset, kind in [
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "css"),
        ("favicon-32x32.png", "png"),
    ]:
        assert f"/swagger/{asset}" in html or asset.startswith("favicon-32")
        r = client.get(f"/swagger/{asset}", key=None)
        assert r.status == 200 and kind in r.headers["content-type"] and len(r.body) > 100
    assert client.get("/swagger/index.html", key=None).status == 404
    assert client.get("/swagger/..%2F..%2Fetc%2Fpasswd", key=None).status == 404


def test_swagger_html_escapes_its_inputs() -> None:
    html = swagger_html('/x"</script><script>alert(1)//', title="<b>").decode()
    assert "</script><script>alert" not in html and "<b>" not in html


def test_main_api_document() -> None:
    doc = msgspec.json.decode(main_document())
    assert doc["openapi"] == "3.1.0"
    assert {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/v1/models/{model}",
        "/v1/messages",
        "/health",
    } <= set(doc["paths"])
    chat = doc["components"]["schemas"]["ChatCompletionRequest"]
    assert set(chat["required"]) == {"model", "messages"}
    # Client payloads pass through: the schema documents, it does not forbid.
    assert chat.get("additionalProperties", True) is not False
    assert (
        "text/event-stream"
        in doc["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    )


def test_admin_document_states_the_bounds_validation_uses(client: Client) -> None:
    doc = client.get("/openapi.json").json()
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    params = {p["name"]: p["schema"] for p in paths["/admin/groups"]["get"]["parameters"]}
    assert params["offset"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0}
    assert params["limit"]["maximum"] == 1000
    key_create = schemas["KeyCreate"]["properties"]
    assert key_create["duration"]["anyOf"][0]["pattern"] == DURATION_PATTERN
    assert key_create["expires_at"]["anyOf"][0]["maximum"] == MAX_TIMESTAMP
    # Every field optional: the body may be left out; a required field makes it required.
    assert paths["/admin/users"]["post"]["requestBody"]["required"] is False
    assert paths["/admin/budgets/{kind}/{id}"]["put"]["requestBody"]["required"] is True
    kind, id_ = paths["/admin/budgets/{kind}/{id}"]["put"]["parameters"][:2]
    assert set(kind["schema"]["enum"]) == {"key", "user", "group", "team"}
    assert id_["schema"]["pattern"] == ID_PATTERN
    budget_duration = schemas["KeyGenerate"]["properties"]
    assert set(budget_duration["budget_duration"]["anyOf"][0]["enum"]) == {
        "1d", "24h", "7d", "1w", "30d", "1mo"
    }  # fmt: skip
    # The statuses a route can answer, each with the error schema.
    assert set(paths["/swagger/{file}"]["get"]["responses"]) == {"200", "404", "414", "431"}
    assert {"400", "404", "413"} <= set(paths["/key/update"]["post"]["responses"])
    for code in RULE_CODES[:4]:
        assert code in paths["/admin/keys"]["post"]["responses"]["400"]["description"]


def test_main_document_states_the_bounds_validation_uses() -> None:
    doc = msgspec.json.decode(main_document())
    schemas = doc["components"]["schemas"]
    chat = schemas["ChatCompletionRequest"]["properties"]
    assert chat["model"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 256,
        "description": chat["model"]["description"],
    }
    assert chat["max_tokens"]["anyOf"][0]["maximum"] == validation.INT32_MAX
    assert chat["messages"]["maxItems"] == validation.MAX_MESSAGES
    assert chat["tools"]["anyOf"][0]["maxItems"] == validation.MAX_TOOLS
    assert schemas["AnthropicMessagesRequest"]["required"] == ["model", "messages", "max_tokens"]
    assert schemas["TokenCountRequest"]["required"] == ["model"]
    messages = doc["paths"]["/v1/messages"]["post"]["responses"]
    assert messages["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AnthropicError"
    )
    assert {"400", "401", "403", "404", "413", "414", "429", "431", "5XX"} <= set(messages)
    ready = doc["paths"]["/ready"]["get"]["responses"]
    assert set(ready) >= {"200", "503"}
