"""The test service's account, tokens, line and agents, and the callers the tests use."""

from __future__ import annotations

from pathlib import Path

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 31 + "1"
API_TOKEN = "test-api-token-4f1c9e2b7a60d38e5b9f0c1a2d3e4f56"
BASE_URL = "https://ivr.example.test"
LINE = "+18005551212"
AGENT = "+15550001111"
AGENT2 = "client:alice"

HARASSER = "+14155550123"
CUSTOMER = "+14155550177"

ROOT = Path(__file__).resolve().parents[2]  # the checkout
