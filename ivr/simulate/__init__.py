"""Twilio's side, played: `ivr simulate`, the tests and the bench drive the service with it.

    config       what a run is asked to do; Twilio's rules it plays by
    callers      who calls, and when
    addons       the AddOns JSON of Twilio's Marketplace add-ons, as it comes with an incoming call
    legs         a call leg and what moves it
    http         signed webhooks, the API, media
    base         the simulator's state and plumbing
    player       following a leg's TwiML
    switchboard  queues and bridges
    agents       the agent's side
    rest         the REST stand-in's listener
    engine       Simulator, the whole
    report       what a run saw
    standin      the local stand-in for Twilio's REST API (strict, validated by twilio_oai)
"""

from __future__ import annotations

from ivr.simulate.config import SimConfig, parse_compress, parse_span, standin_for
from ivr.simulate.engine import Simulator
from ivr.simulate.http import wav_seconds
from ivr.simulate.report import Report

__all__ = ["Report", "SimConfig", "Simulator", "parse_compress", "parse_span", "standin_for", "wav_seconds"]
