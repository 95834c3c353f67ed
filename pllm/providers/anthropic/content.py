"""Content parts between the formats: text and images (URL and base64 data URLs)."""

from __future__ import annotations

from typing import Any

from pllm.errors import bad_request
from pllm.providers.openai.content import text_of as text_of


def image_source(url: str) -> dict[str, Any]:
    """An OpenAI ``image_url.url`` as an Anthropic image source."""
    if url.startswith("data:"):
        head, sep, data = url.partition(",")
        media_type, _, encoding = head[5:].partition(";")
        if not sep or encoding != "base64" or not media_type:
            raise bad_request(
                "Image data URLs must look like 'data:<media type>;base64,<data>'.",
                param="messages",
                code="invalid_image_url",
            )
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def image_url(source: Any) -> str | None:
    """An Anthropic image source as an OpenAI ``image_url.url``; None when not expressible."""
    if not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "base64":
        return f"data:{source.get('media_type')};base64,{source.get('data')}"
    if kind == "url":
        url = source.get("url")
        return url if isinstance(url, str) else None
    return None


def openai_part_to_block(part: Any) -> dict[str, Any] | None:
    """One OpenAI content part as an Anthropic block (None for parts Anthropic has no
    equivalent of, like audio)."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise bad_request("An image_url part needs a 'url'.", param="messages")
        return {"type": "image", "source": image_source(url)}
    return None


def openai_content_to_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [b for b in map(openai_part_to_block, content) if b is not None]
    return []
