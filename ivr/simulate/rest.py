"""The REST stand-in's listener: the app's call updates move legs, its call creations become legs."""

from __future__ import annotations

from typing import Any

from ivr.simulate.base import SimulatorBase
from ivr.simulate.callers import Caller, plan_for
from ivr.simulate.legs import Interrupt, Jump, Leg, num


class RestMixin(SimulatorBase):
    """Called on the stand-in's request threads."""

    def call_updated(self, sid: str, form: dict[str, str]) -> bool:
        """The app updated a call through the REST API: move or end the simulated leg."""
        leg, loop = self.legs.get(sid), self.loop
        if leg is None or leg.ended or loop is None:
            return False
        loop.call_soon_threadsafe(self._rest_update, leg, dict(form))
        return True

    def call_created(self, call: dict[str, Any], form: dict[str, str]) -> None:
        """The app created an outbound call (a callback): ring the callee and run the call's TwiML."""
        loop = self.loop
        if loop is not None and not self.closing:
            loop.call_soon_threadsafe(self._spawn, self._outbound_call(dict(call), dict(form)))

    def _rest_update(self, leg: Leg, form: dict[str, str]) -> None:
        status = form.get("Status", "")
        if self.trace is not None:
            self.trace(f"{self.clock()} {self.now():9.0f} REST     ..{leg.sid[-6:]} update {form}")
        if status in ("completed", "canceled"):
            self._signal(leg, Interrupt("hangup", reason=f"ended by REST ({status})"))
            return
        if form.get("Twiml") or form.get("Url"):
            self.counts.redirects += 1
            self._signal(leg, Interrupt("redirect", url=form.get("Url", ""), method=form.get("Method", "POST").upper(),
                                        twiml=form.get("Twiml") or None))

    async def _outbound_call(self, call: dict[str, Any], form: dict[str, str]) -> None:
        """An outbound-api call, as Twilio places it: queued (the stand-in's answer), initiated, ringing, then
        answered (its Url requested with CallStatus=in-progress) or not (no-answer after Timeout). Status
        callbacks for the StatusCallbackEvent values asked for; `completed` (any final status) always."""
        sid = str(call["sid"])
        to, from_ = form.get("To", ""), form.get("From", "")
        self.counts.callbacks += 1
        callee = self.pools.by_number(to) or Caller("customer", to, False, country="US")
        status_cb = (form["StatusCallback"], form.get("StatusCallbackMethod", "POST").upper()) \
            if form.get("StatusCallback") else None
        events = set(form.get("StatusCallbackEvent", "").replace(",", " ").split())
        leg = self._new_leg("outbound", self._base_params(sid, from_, to, "outbound-api", "in-progress"),
                            caller=callee, plan=plan_for(callee, self.cfg, self.rng), status_callback=status_cb)
        self.live_callers.add(leg)
        ring = self.rng.uniform(4, 20)
        try:
            for event in ("initiated", "ringing"):
                if event in events:
                    await self._status_event(leg, event)
            await self._idle(leg, ring)
            if self.rng.random() < self.cfg.no_answer_share:
                await self._idle(leg, max(0.0, num(form.get("Timeout"), 60.0) - ring))
                await self._finish(leg, "no-answer")
                return
        except Interrupt:  # ended or moved by REST while ringing
            await self._finish(leg, "canceled")
            return
        if "answered" in events:
            await self._status_event(leg, "in-progress")
        extra: dict[str, str] = {}
        if form.get("MachineDetection"):
            extra["AnsweredBy"] = self.rng.choices(("human", "machine_start", "unknown"), (0.82, 0.13, 0.05))[0]
        if form.get("Twiml"):
            first = Jump(form.get("Url", ""), twiml=form["Twiml"], extra=extra)
        else:
            first = Jump(form.get("Url", ""), form.get("Method", "POST").upper(), extra)
        await self._drive(leg, first)


# ---- helpers -------------------------------------------------------------------------------------------
