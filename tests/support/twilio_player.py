"""Plays Twilio against the Flask test client: signs requests with the real algorithm, parses TwiML,
and follows the URLs in it with the method its attributes name."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from lxml import etree
from twilio.request_validator import RequestValidator


def call_sid() -> str:
    return "CA" + secrets.token_hex(16)


@dataclass
class Reply:
    status: int
    text: str
    root: Any  # lxml Element of <Response>, or None when not TwiML

    def verbs(self) -> list[str]:
        return [child.tag for child in self.root] if self.root is not None else []

    def first(self, tag: str) -> Any:
        found = self.root.find(f".//{tag}") if self.root is not None else None
        assert found is not None, f"no <{tag}> in TwiML:\n{self.text}"
        return found

    def all(self, tag: str) -> list[Any]:
        return list(self.root.iter(tag)) if self.root is not None else []


class TwilioPlayer:
    def __init__(self, client: Any, auth_token: str, base_url: str, account_sid: str) -> None:
        self.client = client
        self.validator = RequestValidator(auth_token)
        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid

    def absolute(self, url: str) -> str:
        return url if url.startswith("http") else self.base_url + url

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(self.validator.compute_signature(self.absolute(url), params))

    def incoming_params(self, sid: str, from_: str, to: str, **extra: str) -> dict[str, str]:
        """The parameter set Twilio sends on an incoming call."""
        params = {
            "CallSid": sid, "AccountSid": self.account_sid, "From": from_, "To": to, "Caller": from_, "Called": to,
            "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01",
            "FromCity": "SAN FRANCISCO", "FromState": "CA", "FromZip": "94105", "FromCountry": "US",
            "ToCity": "", "ToState": "", "ToZip": "", "ToCountry": "US",
            "CallerCity": "SAN FRANCISCO", "CallerState": "CA", "CallerZip": "94105", "CallerCountry": "US",
            "CalledCity": "", "CalledState": "", "CalledZip": "", "CalledCountry": "US",
        }
        params.update(extra)
        return params

    def post(self, url: str, params: dict[str, str], *, signature: str | None = None, method: str = "POST",
             headers: dict[str, str] | None = None) -> Reply:
        """A signed request as Twilio makes it (signature over the full URL and every parameter)."""
        full = self.absolute(url)
        assert full.startswith(self.base_url), f"TwiML URL {full} is not under PUBLIC_BASE_URL {self.base_url}"
        if method == "GET":  # the parameters ride in the query string, and the signature covers only the URL
            full += ("&" if "?" in full else "?") + urlencode(params)
            params = {}
        parts = urlsplit(full)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        sig = self.sign(full, params) if signature is None else signature
        h = {"X-Twilio-Signature": sig, **(headers or {})}
        if method == "GET":
            resp = self.client.get(path, headers=h)
        else:
            resp = self.client.post(path, data=params, headers=h)
        text = resp.get_data(as_text=True)
        root = None
        if resp.status_code == 200 and resp.mimetype == "text/xml":
            root = etree.fromstring(text.encode())
            assert root.tag == "Response", text
        return Reply(resp.status_code, text, root)

    def incoming(self, sid: str, from_: str, to: str, **extra: str) -> Reply:
        return self.post("/voice/incoming", self.incoming_params(sid, from_, to, **extra))

    def follow(self, element: Any, params: dict[str, str], attr: str = "action", method_attr: str = "method") -> Reply:
        """Request the URL in `element`'s attribute (or its text for Redirect) as Twilio would."""
        url = element.get(attr) if attr != "text" else element.text.strip()
        assert url, f"<{element.tag}> has no {attr}"
        assert url.startswith("https://"), f"{url} is not absolute https"
        method = element.get(method_attr, "POST").upper()
        return self.post(url, params, method=method)
