"""What the semantic cache matches by meaning and what exactly, and its index's bounds."""

from __future__ import annotations

from typing import Any

from pllm.cache.semantic import SemanticIndex, semantic_parts


def chat(*messages: tuple[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": r, "content": c} for r, c in messages], **extra}


def test_text_is_the_last_user_turn_and_the_rest_is_the_group() -> None:
    a = semantic_parts("chat/completions", "m", "", chat(("user", "hello there")))
    b = semantic_parts("chat/completions", "m", "", chat(("user", "hi there")))
    assert a is not None and b is not None
    assert a[0] == "hello there" and a[1] == b[1]
    history = chat(("user", "x"), ("assistant", "y"), ("user", "hello there"))
    c = semantic_parts("chat/completions", "m", "", history)
    assert c is not None and c[0] == "hello there" and c[1] != a[1]
    hot = semantic_parts("chat/completions", "m", "", chat(("user", "hi"), temperature=0.3))
    assert hot is not None and hot[1] != a[1]
    assert semantic_parts("chat/completions", "other", "", chat(("user", "hi there")))[1] != a[1]  # type: ignore[index]
    assert semantic_parts("chat/completions", "m", "k:1", chat(("user", "hi there")))[1] != a[1]  # type: ignore[index]
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert semantic_parts("chat/completions", "m", "", chat(("user", parts))) is not None
    image = [{"type": "image_url", "image_url": {"url": "x"}}]
    assert semantic_parts("chat/completions", "m", "", chat(("user", image))) is None
    assert semantic_parts("chat/completions", "m", "", chat(("system", "s"))) is None
    assert semantic_parts("completions", "m", "", {"prompt": "p"}) is not None
    assert semantic_parts("completions", "m", "", {"prompt": ["p"]}) is None
    assert semantic_parts("embeddings", "m", "", {"input": "p"}) is None


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_index_bound_expiry_and_clear() -> None:
    clock = Clock()
    index = SemanticIndex(max_entries=2, clock=clock)
    assert index.search(1, [1.0, 0.0], 0.5) is None
    assert index.add(1, 7, [1.0, 0.0], "ns:t:a", 10.0)
    assert index.add(2, 7, [0.9, 0.1], "ns:t:b", 10.0)
    assert index.search(7, [1.0, 0.0], 0.99) == (1, "ns:t:a")
    assert index.add(3, 7, [0.0, 1.0], "ns:u:c", 10.0)  # drops the oldest (1)
    assert len(index) == 2 and 1 not in index
    assert index.search(7, [1.0, 0.0], 0.9) == (2, "ns:t:b")
    assert not index.add(4, 7, [1.0, 0.0, 0.0], "ns:t:d", 10.0)  # another dimension
    assert not index.add(5, 7, [0.0, 0.0], "ns:t:e", 10.0)  # no direction
    clock.now = 11.0
    assert index.search(7, [1.0, 0.0], 0.9) is None  # expired: forgotten
    assert 2 not in index
    index.clear("ns:u:")
    assert len(index) == 0
