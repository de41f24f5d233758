"""Twilio's webhooks, played in the order a call meets them: door, queue, agent, hold, isolation, callbacks."""
