"""OpenAI content parts -> Gemini parts: text, images, audio and files.

Inline data (``data:`` URLs, ``input_audio``) becomes ``inlineData``; a URL becomes
``fileData`` (Gemini fetches ``gs://`` and public ``https://`` URIs itself, and a File API
URI is one). No I/O here: nothing is downloaded.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from pllm.errors import bad_request
from pllm.providers.openai.content import text_of as text_of

# What a URL without a telling extension most likely is, for fileData's required mimeType.
_DEFAULT_IMAGE_TYPE = "image/jpeg"


def data_url_part(url: str) -> dict[str, Any]:
    """A ``data:<type>;base64,<data>`` URL as an ``inlineData`` part."""
    head, sep, data = url.partition(",")
    media_type, _, encoding = head[5:].partition(";")
    if not sep or encoding != "base64" or not media_type:
        raise bad_request(
            "Data URLs must look like 'data:<media type>;base64,<data>'.",
            param="messages",
            code="invalid_image_url",
        )
    return {"inlineData": {"mimeType": media_type, "data": data}}


def url_part(url: str, mime_type: Any = None, default: str = _DEFAULT_IMAGE_TYPE) -> dict[str, Any]:
    if url.startswith("data:"):
        return data_url_part(url)
    if not isinstance(mime_type, str) or not mime_type:
        mime_type = mimetypes.guess_type(url.partition("?")[0])[0] or default
    return {"fileData": {"mimeType": mime_type, "fileUri": url}}


def _image(part: dict[str, Any]) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise bad_request("An image_url part needs a 'url'.", param="messages")
    # LiteLLM's extension: the client may name the media type of a URL without one.
    given = image.get("format") if isinstance(image, dict) else None
    return url_part(url, given)


def _audio(part: dict[str, Any]) -> dict[str, Any]:
    audio = part.get("input_audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
        raise bad_request("An input_audio part needs 'data'.", param="messages")
    fmt = audio.get("format") or "wav"
    return {"inlineData": {"mimeType": f"audio/{fmt}", "data": audio["data"]}}


def _file(part: dict[str, Any]) -> dict[str, Any]:
    file = part.get("file")
    if not isinstance(file, dict):
        raise bad_request("A file part needs a 'file' object.", param="messages")
    data = file.get("file_data")
    if isinstance(data, str) and data:
        return (
            data_url_part(data) if data.startswith("data:") else url_part(data, file.get("format"))
        )
    file_id = file.get("file_id")
    if isinstance(file_id, str) and file_id:
        return url_part(file_id, file.get("format"), "application/pdf")
    raise bad_request("A file part needs 'file_data' or 'file_id'.", param="messages")


def openai_part_to_gemini(part: Any) -> dict[str, Any] | None:
    """One OpenAI content part as a Gemini part; None for parts without an equivalent or with
    no content (Gemini refuses empty text)."""
    if isinstance(part, str):
        return {"text": part} if part else None
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        return {"text": text} if isinstance(text, str) and text else None
    if kind == "image_url":
        return _image(part)
    if kind == "input_audio":
        return _audio(part)
    if kind == "file":
        return _file(part)
    return None


def openai_content_to_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if isinstance(content, list):
        return [p for p in map(openai_part_to_gemini, content) if p is not None]
    return []
