from tests.admin.conftest import app, client, runner

__all__ = ["app", "client", "runner"]
