"""The response cache (``litellm_settings.cache``): exact answers replayed without an upstream
call, consulted only once the gate admitted the request (:mod:`.service`)."""
