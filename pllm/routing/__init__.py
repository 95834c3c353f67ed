"""Which deployment serves a request. Round-robin for now; strategies move into Rust next."""
