"""The baseline: the least a correct Twilio webhook on this stack does, served exactly like the product.

It validates X-Twilio-Signature against the public URL with every parameter (as the product must), asks
Redis one question (SISMEMBER) and answers a fixed TwiML string. Its throughput and latency are the
ceiling the product's /voice/incoming is measured against.

    gunicorn 'bench.baseline_app:create_app()'   (REDIS_URL, TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL)
"""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

BLOCKED_SET = "bench:baseline:blocked"
TWIML = ('<?xml version="1.0" encoding="UTF-8"?><Response><Enqueue action="https://example.test/exit" '
         'method="POST" waitUrl="https://example.test/hold" waitUrlMethod="POST">agents</Enqueue></Response>')
REJECT = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>'


def create_app() -> Flask:
    """The baseline app; reads REDIS_URL, TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL from the environment."""
    base_url = os.environ["PUBLIC_BASE_URL"].rstrip("/")
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True, socket_timeout=0.5)
    app = Flask("bench-baseline")

    @app.post("/voice/incoming")
    def incoming() -> Response:
        query = request.query_string.decode("latin-1")
        url = base_url + request.path + (f"?{query}" if query else "")
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            return Response("Forbidden\n", status=403, mimetype="text/plain")
        blocked = r.sismember(BLOCKED_SET, request.form.get("From", ""))
        return Response(REJECT if blocked else TWIML, mimetype="text/xml")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    return app
