"""The admin API: keys, users, groups, budgets and usage, on its own listener (8081).

``app`` is the ASGI application, ``routes`` and the ``*_routes`` modules hold the handlers,
``service`` is the layer over the store that both the HTTP handlers and ``pllm … --local``
use, ``litellm`` translates LiteLLM's management API onto the same service.
"""
