"""Twilio's requests to us, one module per phase of a call, in the order a call meets them:

    incoming   the door: screen, treat, or queue (and the fallback URL)
    queue      waiting for an agent; the bridge; leaving the queue; the overflow offer
    agent      the agent's leg: take a caller, the key menu after `*`, the breather
    hold       after `*`: the caller's private hold and the move the agent chose
    isolation  the caller-analysis queue
    callbacks  a call back's outbound leg
    status     the call's end

twiml (answers and request fields), signature (X-Twilio-Signature), media (the recordings) and
blueprints serve them all. Every route is signed by Twilio and answers TwiML, never a 500.
"""

from __future__ import annotations

from ivr.webhooks import agent, callbacks, hold, incoming, isolation, media, queue, status
from ivr.webhooks.blueprints import agent_bp, media_bp, supervisor_bp, voice_bp

BLUEPRINTS = (voice_bp, agent_bp, supervisor_bp, media_bp)
# the route modules register their routes on the blueprints when they are imported
ROUTE_MODULES = (incoming, queue, agent, hold, isolation, callbacks, status, media)
