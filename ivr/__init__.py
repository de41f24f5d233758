"""Flask webhooks, desk and JSON API of the harassment filter.

`create_app` is imported lazily so that `ivr.cli` stays importable without building
an app (and so `blocklist/` and `workers/` can share the settings without importing Flask).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """WSGI app factory: `gunicorn 'ivr:create_app()'`."""
    # Imported here: `import ivr` (every `ivr` command, the worker and the cron) must not load Flask.
    from ivr.app import build_app
    return build_app(config)


__all__ = ["create_app"]
