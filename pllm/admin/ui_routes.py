"""The admin web UI at ``/ui`` (sources in ``ui/``, built by ``make ui`` into ``ui_dist/``,
which ships in the package: serving it needs no Node.js).

``/ui`` and every ``/ui/<page>`` answer ``index.html`` (the UI routes in the browser), never
cached; ``/ui/assets/<file>`` are content-hashed, so cached for a year as immutable. Every
answer carries a Content-Security-Policy that allows this origin's scripts, styles and API
only: no inline script, no other origin, no framing."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from pllm.admin.routing import Call, Reply, Route
from pllm.admin.schemas import ID_PATTERN
from pllm.errors import GatewayError

DIST = Path(__file__).resolve().parent / "ui_dist"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_SECURITY = (
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
)
INDEX_HEADERS = (("cache-control", "no-cache"), *_SECURITY)
ASSET_HEADERS = (("cache-control", "public, max-age=31536000, immutable"), *_SECURITY)
TYPES = {
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
    ".woff2": b"font/woff2",
    ".json": b"application/json",
}
HTML = b"text/html; charset=utf-8"
# A page name is documented as an id (the admin document's path parameters).
_PAGE = re.compile(ID_PATTERN)


def _not_found(call: Call) -> GatewayError:
    return GatewayError(404, f"Invalid URL (GET {call.req.path})", code="unknown_url")


@functools.cache
def _read(name: str) -> bytes | None:
    """A file of the build (read once: the build changes only with the package)."""
    path = (DIST / name).resolve()
    if DIST.resolve() not in path.parents or not path.is_file():
        return None
    return path.read_bytes()


async def index(call: Call) -> Reply:
    page = _read("index.html")
    if page is None:
        raise GatewayError(
            404, "The admin UI is not built: run `make ui` (needs Node.js).", code="unknown_url"
        )
    return Reply(200, None, raw=page, content_type=HTML, headers=INDEX_HEADERS)


async def page(call: Call) -> Reply:
    """A top-level file of the build (favicon), else the UI's page of that name (any name the
    document allows: the UI shows its own "not found"; others are a 404)."""
    name = call.params["page"]
    if len(name) > 128 or not _PAGE.match(name):
        raise _not_found(call)
    kind = TYPES.get(Path(name).suffix)
    if kind is not None and "/" not in name and (data := _read(name)) is not None:
        return Reply(200, None, raw=data, content_type=kind, headers=INDEX_HEADERS)
    return await index(call)


async def asset(call: Call) -> Reply:
    name = call.params["file"]
    kind = TYPES.get(Path(name).suffix)
    data = _read(f"assets/{name}") if kind is not None and "/" not in name else None
    if kind is None or data is None:
        raise _not_found(call)
    return Reply(200, None, raw=data, content_type=kind, headers=ASSET_HEADERS)


_MEDIA = tuple(sorted({t.decode().split(";")[0] for t in (HTML, *TYPES.values())}))
ROUTES = [
    Route("GET", "/ui", index, "The admin web UI", "Documentation", guarded=False,
          media=("text/html",),
          description="Sign in with the master key or an admin virtual key."),
    Route("GET", "/ui/{page}", page, "A page of the admin web UI", "Documentation",
          guarded=False, errors=(404,), media=_MEDIA),
    Route("GET", "/ui/assets/{file}", asset, "The admin web UI's static files",
          "Documentation", guarded=False, errors=(404,), media=_MEDIA),
]  # fmt: skip
