"""The blueprints Twilio's webhooks and the prompt recordings hang on (their names are part of every URL
the service builds, so they stay)."""

from __future__ import annotations

from flask import Blueprint

voice_bp = Blueprint("voice", __name__, url_prefix="/voice")
agent_bp = Blueprint("agent", __name__, url_prefix="/agent")
supervisor_bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")
media_bp = Blueprint("media", __name__)
