"""The JSON API: blocklist, reports, the OpenAPI description."""
