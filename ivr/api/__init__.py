"""The JSON API under /api (bearer tokens or a desk session): calls and moves, the blocklist and its
rules, reports, prompts, and the OpenAPI description."""
