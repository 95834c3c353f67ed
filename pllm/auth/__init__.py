"""Authentication of gateway clients."""
