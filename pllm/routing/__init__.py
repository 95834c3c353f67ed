"""Which deployment serves a request: the native router, the retry/fallback loop, shedding."""
