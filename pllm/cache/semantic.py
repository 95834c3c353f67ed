"""The semantic part of the cache: what of a request is matched by meaning, and the index of
the answers' vectors.

A request's **text** is its last user turn (chat) or its prompt (completions); everything
else — model, endpoint, scope, parameters, the rest of the conversation — must match
exactly and is hashed into the request's **group**. The index (Rust, brute force,
:class:`pllm_accel.VectorIndex`) finds, within the group, the stored answer whose text's
embedding is the most similar at or above ``similarity_threshold``; the answer itself is the
exact cache's entry under its storage key. The index is bounded (``max_entries``, oldest
dropped first) and forgets entries that expired.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pllm_accel
from pllm.cache.key import cache_key

_PLACEHOLDER = "\0semantic"


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts) if texts and len(texts) == len(content) else None
    return None


def semantic_parts(
    endpoint: str, model: str, scope: str, payload: dict[str, Any]
) -> tuple[str, int] | None:
    """(text, group) of a request the semantic cache can match, or None (no user text, or
    content that is not only text)."""
    if endpoint == "chat/completions":
        messages = payload.get("messages")
        if not isinstance(messages, list):
            return None
        last = next(
            (
                i
                for i in range(len(messages) - 1, -1, -1)
                if isinstance(messages[i], dict) and messages[i].get("role") == "user"
            ),
            None,
        )
        if last is None:
            return None
        text = _text_of(messages[last].get("content"))
        if not text:
            return None
        rest = [
            *messages[:last],
            {**messages[last], "content": _PLACEHOLDER},
            *messages[last + 1 :],
        ]
        context = {**payload, "messages": rest}
    elif endpoint == "completions":
        text = payload.get("prompt")
        if not isinstance(text, str) or not text:
            return None
        context = {**payload, "prompt": _PLACEHOLDER}
    else:
        return None
    return text, int(cache_key(endpoint, model, scope, context)[:16], 16)


def vector_id(key: str) -> int:
    """An entry's id in the index, from its exact key (the same on every instance)."""
    return int(key[:16], 16)


class SemanticIndex:
    """The vectors of stored answers, by id, each with where its answer is kept."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._index: pllm_accel.VectorIndex | None = None
        # id -> (storage key, expires at), oldest first
        self._where: OrderedDict[int, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, vid: int) -> bool:
        return vid in self._where

    def add(self, vid: int, group: int, vector: list[float], where: str, expires_at: float) -> bool:
        """Whether it was added (a vector of another dimension than the index's is not)."""
        if self._index is None:
            if not vector:
                return False
            self._index = pllm_accel.VectorIndex(len(vector))
        try:
            self._index.add(vid, group, vector)
        except ValueError:
            return False
        self._where.pop(vid, None)
        self._where[vid] = (where, expires_at)
        while len(self._where) > self.max_entries:
            oldest, _ = self._where.popitem(last=False)
            self._index.remove(oldest)
        return True

    def search(self, group: int, vector: list[float], threshold: float) -> tuple[int, str] | None:
        """(id, storage key) of the most similar live answer, or None."""
        if self._index is None:
            return None
        try:
            found = self._index.search(group, vector, threshold)
        except ValueError:
            return None
        if found is None:
            return None
        vid = found[0]
        where, expires_at = self._where[vid]
        if expires_at <= self._clock():
            self.remove(vid)
            return None
        return vid, where

    def remove(self, vid: int) -> None:
        if self._where.pop(vid, None) is not None and self._index is not None:
            self._index.remove(vid)

    def clear(self, prefix: str, suffix: str = "") -> None:
        doomed = [
            v for v, (w, _) in self._where.items() if w.startswith(prefix) and w.endswith(suffix)
        ]
        for vid in doomed:
            self.remove(vid)
