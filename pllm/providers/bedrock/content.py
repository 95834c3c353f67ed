"""OpenAI content parts -> Converse content blocks: text, images and documents.

Converse takes media inline (``bytes``, base64 in the JSON body) or from S3
(``s3Location``): a ``data:`` URL becomes an image or document block, an ``s3://`` URL a
block read from S3. Bedrock fetches nothing from the web and neither does the gateway: an
``https://`` image is refused with a message saying what to send instead. A part with
``cache_control`` (Anthropic's and LiteLLM's prompt-caching marker) is followed by a
``cachePoint`` block.
"""

from __future__ import annotations

from typing import Any

from pllm.errors import bad_request
from pllm.providers.openai.content import text_of as text_of

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
_EXTENSIONS = {
    "png": "png",
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "gif": "gif",
    "webp": "webp",
}

CACHE_POINT: dict[str, Any] = {"cachePoint": {"type": "default"}}


def _split_data_url(url: str) -> tuple[str, str]:
    head, sep, data = url.partition(",")
    media_type, _, encoding = head[5:].partition(";")
    if not sep or encoding != "base64" or not media_type:
        raise bad_request(
            "Data URLs must look like 'data:<media type>;base64,<data>'.",
            param="messages",
            code="invalid_image_url",
        )
    return media_type.lower(), data


def _image(url: str, given: Any) -> dict[str, Any]:
    if url.startswith("data:"):
        media_type, data = _split_data_url(url)
        fmt = IMAGE_FORMATS.get(media_type)
        if fmt is None:
            raise bad_request(
                f"Bedrock takes png, jpeg, gif and webp images, not {media_type}.",
                param="messages",
                code="invalid_image_format",
            )
        return {"image": {"format": fmt, "source": {"bytes": data}}}
    if url.startswith("s3://"):
        ext = url.rpartition(".")[2].lower()
        fmt = IMAGE_FORMATS.get(given) if isinstance(given, str) else _EXTENSIONS.get(ext)
        return {"image": {"format": fmt or "png", "source": {"s3Location": {"uri": url}}}}
    raise bad_request(
        "Bedrock takes images inline or from S3: send a base64 data URL "
        "('data:image/png;base64,...') or an s3:// URL.",
        param="messages",
        code="invalid_image_url",
    )


def _document(part: dict[str, Any], number: int) -> dict[str, Any]:
    file = part.get("file")
    data = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data, str) or not data.startswith("data:"):
        raise bad_request(
            "Bedrock takes files inline: send 'file_data' as a base64 data URL.",
            param="messages",
        )
    media_type, payload = _split_data_url(data)
    fmt = DOCUMENT_FORMATS.get(media_type)
    if fmt is None:
        if media_type in IMAGE_FORMATS:
            return {"image": {"format": IMAGE_FORMATS[media_type], "source": {"bytes": payload}}}
        raise bad_request(f"Bedrock cannot read {media_type} documents.", param="messages")
    # A name is required; Bedrock allows letters, digits, spaces, hyphens and brackets.
    name = f"document {number}"
    return {"document": {"format": fmt, "name": name, "source": {"bytes": payload}}}


def openai_part_to_blocks(part: Any, out: list[dict[str, Any]]) -> None:
    """Appends the blocks of one OpenAI content part: none for an empty text (Converse
    refuses blank text) or a part without an equivalent; a ``cachePoint`` after a part
    marked with ``cache_control``."""
    if isinstance(part, str):
        if part:
            out.append({"text": part})
        return
    if not isinstance(part, dict):
        return
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str) or not text:
            return
        out.append({"text": text})
    elif kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise bad_request("An image_url part needs a 'url'.", param="messages")
        given = image.get("format") if isinstance(image, dict) else None
        out.append(_image(url, given))
    elif kind == "file":
        out.append(_document(part, sum(1 for b in out if "document" in b) + 1))
    else:
        return
    if part.get("cache_control"):
        out.append(CACHE_POINT)


def openai_content_to_blocks(content: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(content, str):
        openai_part_to_blocks(content, out)
    elif isinstance(content, list):
        for part in content:
            openai_part_to_blocks(part, out)
    return out
