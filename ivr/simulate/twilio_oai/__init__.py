"""Twilio's own OpenAPI description of the parts of its 2010-04-01 REST API this service uses, trimmed
from twilio/twilio-oai (see README.md here); the REST stand-in validates requests and answers against it."""

from __future__ import annotations

from pathlib import Path

SUBSET = Path(__file__).with_name("twilio_api_v2010_subset.json")
