"""OpenAI's wire format: OpenAI itself, the OpenAI-compatible services (rows of one table)
and Azure OpenAI."""
