"""TwiML responses: built with VoiceResponse, served with the right content type."""

from __future__ import annotations

from flask import Response
from twilio.twiml.voice_response import VoiceResponse


def twiml(response: VoiceResponse, status: int = 200) -> Response:
    """A Flask response carrying TwiML."""
    return Response(str(response), status=status, mimetype="text/xml")


def hangup() -> Response:
    r = VoiceResponse()
    r.hangup()
    return twiml(r)


def empty() -> Response:
    """Valid TwiML that does nothing (for callbacks whose answer Twilio ignores)."""
    return twiml(VoiceResponse())
