"""Spend records: one per request, spooled locally, written to the store in batches."""
