"""Relaying streams to clients as events arrive, and noticing when a client leaves."""
