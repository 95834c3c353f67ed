"""Several gateway instances sharing one Redis (``router_settings.redis_*``).

Nothing here is imported unless a Redis is configured: :func:`pllm.state.AppState.build`
imports :mod:`pllm.cluster.node` only then, and ``redis`` itself is imported by
:mod:`pllm.cluster.link` when the node is built. One responsibility per module:

* :mod:`~pllm.cluster.link`: the connection, its up/down state and the one log line per outage;
* :mod:`~pllm.cluster.presence`: the heartbeat that counts the instances seen recently;
* :mod:`~pllm.cluster.limiter`: rpm/tpm across instances from leased batches;
* :mod:`~pllm.cluster.budgets`: budgets across instances from leased headroom;
* :mod:`~pllm.cluster.bus`: pub/sub of router health events and reload announcements;
* :mod:`~pllm.cluster.node`: builds them and runs their background tasks.
"""
