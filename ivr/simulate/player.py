"""Driving a leg through its TwiML, and what happens to a leg from outside (moves, hang-ups, its end)."""

from __future__ import annotations

import asyncio
import secrets
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urljoin, urlsplit

from ivr.simulate.base import SimulatorBase
from ivr.simulate.config import (
    ACTION_AFTER_BRIDGED_HANGUP,
    API_VERSION,
    FLAG_KEY,
    MAX_DOCUMENTS,
    MOVE_KEYS,
    PLAY_SECONDS_UNKNOWN,
    SOUND_VERBS,
)
from ivr.simulate.http import wav_seconds
from ivr.simulate.legs import DONE, LEAVE, End, Interrupt, Jump, Leg, Step, num


class PlayerMixin(SimulatorBase):
    """Follows the TwiML of a leg as Twilio would."""

    async def _drive(self, leg: Leg, step: Step) -> None:
        status = "completed"
        try:
            while isinstance(step, Jump):
                try:
                    leg.documents += 1
                    if leg.role != "agent" and leg.documents > MAX_DOCUMENTS:
                        self._error(urlsplit(step.url).path, f"more than {MAX_DOCUMENTS} TwiML documents in one call "
                                                             "(a Redirect loop?)")
                        break
                    root = await self._fetch(leg, step)
                    if root is None:
                        leg.failed = True
                        step = self._after_failure(leg, step)
                        continue
                    self._classify(leg, root)
                    step = await self._perform(leg, root, step.url)
                except Interrupt as interrupt:
                    step = await self._on_interrupt(leg, interrupt)
            if isinstance(step, End):
                status = step.status
        except asyncio.CancelledError:
            leg.ended = True
            self.live_callers.discard(leg)
            raise
        await self._finish(leg, status)

    def _after_failure(self, leg: Leg, step: Jump) -> Step:
        """Twilio requests the number's fallback URL once, with ErrorCode and ErrorUrl; else the call ends."""
        if leg.role == "caller" and not leg.fallback_used and step.twiml is None:
            leg.fallback_used = True
            self.counts.fallbacks += 1
            return Jump(self.http.public_url(self.cfg.fallback_path), "POST",
                        {"ErrorCode": leg.error_code or "11200", "ErrorUrl": step.url})
        return End("completed")

    def _classify(self, leg: Leg, root: ET.Element) -> None:
        """The answer to the incoming webhook: answered or not, treated at the door or routed on."""
        if leg.classified:
            return
        leg.classified = True
        leg.params["CallStatus"] = "in-progress"  # the first request said ringing; every later one this
        verbs = [v.tag for v in root]
        leg.answered = not verbs or verbs[0] != "Reject"
        leg.answered_at = self.now()
        if leg.answered and self.standin is not None and leg.role != "child":
            self.standin.set_call(leg.sid, status="in-progress")
        if leg.role != "caller":
            return
        enqueues = [(v.text or "").strip() for v in root if v.tag == "Enqueue"]
        if "Reject" in verbs:
            at_door = True
        elif enqueues:
            at_door = all(name == self.cfg.isolation_queue for name in enqueues)
        else:
            at_door = not any(t in ("Gather", "Redirect", "Dial") for t in verbs)
        if at_door:
            self.counts.door += 1

    async def _perform(self, leg: Leg, root: ET.Element, doc_url: str, mode: str = "call") -> Step:
        """Execute one TwiML document. mode: call | wait (a waitUrl) | whisper (the <Queue url>)."""
        for verb in root:
            tag = verb.tag
            if tag in SOUND_VERBS:
                await self._idle(leg, await self._sound_seconds(verb, doc_url))
            elif mode == "whisper":
                continue
            elif tag == "Redirect":
                target = (verb.text or "").strip()
                if not target:
                    self._error(urlsplit(doc_url).path, "<Redirect> without a URL")
                    return End("completed")
                return Jump(urljoin(doc_url, target), verb.get("method", "POST").upper())
            elif tag == "Hangup":
                return End("completed")
            elif tag == "Reject":
                return End("busy" if verb.get("reason") == "busy" else "no-answer")
            elif tag == "Leave":
                if mode == "wait":
                    return LEAVE
            elif tag == "Gather":
                jump = await self._gather(leg, verb, doc_url)
                if jump is not None:
                    return jump
            elif mode == "wait":
                continue  # Twilio allows only Play, Say, Pause, Hangup, Redirect, Leave and Gather here
            elif tag == "Enqueue":
                step = await self._enqueue(leg, verb, doc_url)
                if step != DONE:
                    return step
            elif tag == "Dial":
                step = await self._dial(leg, verb, doc_url)
                if step != DONE:
                    return step
            elif tag == "Record":
                seconds = min(num(verb.get("maxLength"), 3600.0), self.rng.uniform(5, 30))
                await self._idle(leg, seconds)
                rec = "RE" + secrets.token_hex(16)
                return Jump(urljoin(doc_url, verb.get("action") or doc_url), verb.get("method", "POST").upper(),
                            {"RecordingSid": rec, "RecordingDuration": str(int(seconds)), "Digits": "hangup",
                             "RecordingUrl": f"https://api.twilio.com/{API_VERSION}/Accounts/{self.cfg.account_sid}"
                                             f"/Recordings/{rec}"})
            elif tag in ("Connect", "Refer"):
                await self._idle(leg, 60)
                return End("completed")
            elif tag == "Echo":
                await self._idle(leg, 10)
        return DONE

    async def _sound_seconds(self, verb: ET.Element, doc_url: str) -> float:
        if verb.tag == "Pause":
            return num(verb.get("length"), 1.0)
        loops = int(num(verb.get("loop"), 1.0))
        loops = 3 if loops == 0 else max(1, min(loops, 10))  # loop=0 repeats until something happens
        if verb.tag == "Say":
            return loops * max(1.0, len((verb.text or "").strip()) / 15)
        if verb.get("digits"):
            return 1.0
        url = (verb.text or "").strip()
        if not url:
            self._error(urlsplit(doc_url).path, "<Play> without a URL")
            return 0.0
        return loops * await self._media_seconds(urljoin(doc_url, url))

    async def _media_seconds(self, url: str) -> float:
        """How long a recording plays; fetched once per URL, checked for an audio Content-Type."""
        assert self.loop is not None
        if not self.cfg.check_media or not self.http.under_public(url):
            return PLAY_SECONDS_UNKNOWN
        found = self.media_cache.get(url)
        if found is None:
            found = self.loop.create_future()
            self.media_cache[url] = found
            seconds = PLAY_SECONDS_UNKNOWN
            try:
                answer = await self.http.media(url)
                self.counts.requests += 1
                ctype = answer.content_type.split(";")[0].strip().lower()
                if answer.error or answer.status != 200:
                    self._error(f"GET {urlsplit(url).path}", answer.error or f"HTTP {answer.status} for a <Play> recording")
                elif not ctype.startswith("audio/"):
                    self._error(f"GET {urlsplit(url).path}", f"a <Play> recording served as {ctype or 'no type'}; "
                                                             "Twilio needs audio/wav, audio/mpeg...")
                else:
                    seconds = wav_seconds(answer.body) or PLAY_SECONDS_UNKNOWN
            finally:
                found.set_result(seconds)
        return await asyncio.shield(found)

    async def _gather(self, leg: Leg, verb: ET.Element, doc_url: str) -> Jump | None:
        digits, delay = self._choose_digits(leg)
        if digits:
            await self._idle(leg, delay)  # a key press interrupts the prompts
        else:
            for child in verb:
                if child.tag in SOUND_VERBS:
                    await self._idle(leg, await self._sound_seconds(child, doc_url))
            await self._idle(leg, num(verb.get("timeout"), 5.0))
        if not digits and verb.get("actionOnEmptyResult") != "true":
            return None  # no input: Twilio carries on with the next verb
        jump = Jump(urljoin(doc_url, verb.get("action") or doc_url), verb.get("method", "POST").upper(),
                    {"Digits": digits})
        partner = leg.partner
        if leg.role == "agent" and partner is not None and digits:
            if digits == FLAG_KEY:
                jump.on_ok = lambda: self._count_flag(partner, "key")
            elif digits in MOVE_KEYS:
                move = MOVE_KEYS[digits]
                jump.on_ok = lambda: self.counts.moves.update([move])
        return jump

    def _choose_digits(self, leg: Leg) -> tuple[str, float]:
        if leg.role == "agent":
            digits, leg.next_digits = leg.next_digits or "", None
            return digits, self.rng.uniform(0.8, 2.5)
        if self.rng.random() < 0.4:  # a caller offered a choice now and then presses 1
            return "1", self.rng.uniform(1.5, 4)
        return "", 0.0

    def _count_flag(self, caller: Leg, via: str) -> None:
        if caller.sid in self.flagged_calls:
            return
        self.flagged_calls.add(caller.sid)
        if via == "key":
            self.counts.flagged_key += 1
        else:
            self.counts.flagged_desk += 1
        self.flags_by_hour[self.hour()] += 1
        if caller.caller is not None and not caller.caller.withheld:
            self.blocked.add(caller.caller.number)

    async def _on_interrupt(self, leg: Leg, interrupt: Interrupt) -> Step:
        self._drop_dequeues(leg)
        if interrupt.kind == "dequeue":
            if interrupt.bridge is not None:
                interrupt.bridge.finish("caller-gone")
            self._error("simulator", "a caller was dequeued outside any queue (please report)")
            return End("completed")
        ctx, bridge = leg.queue_ctx, leg.bridge
        leg.queue_ctx, leg.bridge = None, None
        leg.hangup_at = None
        moved = interrupt.kind == "redirect"
        if ctx is not None:
            self._leave(ctx.queue, leg)
        if bridge is not None:
            bridge.finish("caller-moved" if moved else "caller-gone")
        if ctx is not None:
            if moved:
                result: str | None = "redirected-from-bridged" if bridge is not None else "redirected"
            elif bridge is None:
                result = "hangup"
            else:
                result = "bridged" if ACTION_AFTER_BRIDGED_HANGUP else None
            if result is not None:
                self._queue_outcome(leg, ctx.queue, result)
                if ctx.action:
                    await self._fetch(leg, Jump(ctx.action, ctx.method, {
                        "QueueResult": result, "QueueSid": ctx.sid, "QueueTime": str(ctx.queue_time(self.now()))}),
                        throttle=False)
        if moved:
            return Jump(interrupt.url, interrupt.method, twiml=interrupt.twiml)
        return End("completed")

    async def _finish(self, leg: Leg, status: str) -> None:
        if leg.ended:
            return
        leg.ended = True
        self._drop_dequeues(leg)
        leg.pending.clear()
        self.live_callers.discard(leg)
        self.legs.pop(leg.sid, None)  # REST updates of it now get Twilio's "not in progress"
        if self.standin is not None and leg.role != "child":
            self.standin.set_call(leg.sid, status=status)
            self.standin.end_call(leg.sid)
        duration = int(self.now() - leg.answered_at) if leg.answered else 0
        if await self._status_event(leg, status, duration) and leg.role == "caller":
            self.counts.status_callbacks += 1

    async def _status_event(self, leg: Leg, status: str, duration: int | None = None) -> bool:
        """One status callback as Twilio posts it: the call's parameters, then CallStatus, Timestamp (RFC 2822,
        on the simulated clock), CallbackSource and SequenceNumber (0, 1, ... per call); CallDuration on the
        final one only. False when there is no status callback or it failed (counted)."""
        if leg.status_callback is None:
            return False
        url, method = leg.status_callback
        params = {**leg.params, "CallStatus": status, "Timestamp": self.timestamp(),
                  "CallbackSource": "call-progress-events", "SequenceNumber": str(leg.sequence)}
        leg.sequence += 1
        if duration is not None:
            params["CallDuration"] = str(duration)
        if self.trace is not None:
            self.trace(f"{self.clock()} {self.now():9.0f} {leg.role:8} ..{leg.sid[-6:]} status callback {status}"
                       + (f" after {duration} s" if duration is not None else ""))
        return await self._post_callback(url, method, params)

    def timestamp(self) -> str:
        """Now on the simulated wall clock, as Twilio writes a callback's Timestamp (RFC 2822, +0000)."""
        return format_datetime(datetime.fromtimestamp(self.http.clock_ms() / 1000, UTC))
