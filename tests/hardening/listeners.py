from __future__ import annotations

import time
import urllib.error
import urllib.request

from tests.e2e.gateway import GatewayProcess


def wait_for_admin(gw: GatewayProcess, timeout: float = 15.0) -> GatewayProcess:
    """The admin listener starts beside the gateway's; ``start`` waits for the gateway only."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{gw.admin_url}/health", timeout=1) as r:
                if r.status == 200:
                    return gw
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the admin listener did not start:\n{gw.logs()}")
