"""Vertex AI: Gemini and Claude models on Google Cloud, with OAuth2 tokens of a service
account (or a gcloud login, or the machine's metadata server)."""
