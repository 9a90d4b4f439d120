"""The API layer: models, HTTP client and credentials. Knows nothing of Textual."""
