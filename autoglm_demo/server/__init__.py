"""FastAPI routes for the OpenAI-compatible API. Only HTTP and protocol live here."""
