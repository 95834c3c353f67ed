"""OpenAI's Responses API (``/v1/responses``) for deployments that do not speak it.

``openai`` and ``azure`` deployments serve Responses natively (passed through by the OpenAI
codec, :mod:`pllm.providers.openai.responses`). For every other chat deployment the surface
(:mod:`.surface`) translates a request to a chat completion (:mod:`.request_to_chat`) and the
reply (:mod:`.response_from_chat`) or stream (:mod:`.stream_from_chat`) back.
"""
