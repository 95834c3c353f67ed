"""Per-request multi-tenancy: model permissions, rate limits, budgets, spend records."""
