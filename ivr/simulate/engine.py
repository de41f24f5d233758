"""Plays Twilio against a running service, so the whole product works without a Twilio account.

The engine behind `ivr simulate`. Inbound calls come from realistic caller pools (repeat harassers, an
organisation's switchboard range, withheld callers, ordinary customers) on a day curve with night and
noon peaks of harassment. Every webhook is signed as Twilio signs it and sent in Twilio's order
(`tests/callflow.py` is the reference); queues behave as Twilio's do (waitUrl loops, oldest caller
first, the `<Queue url>` on the caller's leg before the bridge, Enqueue actions with QueueResult);
agents take callers and flag a share of them with `*` 9 or the desk API; status callbacks end every
call, agents' legs included. With the REST stand-in's listener, the app's call updates move the
simulated legs and its call creations (callbacks) become outbound legs. TwiML the simulator does not
model is followed generically (Say/Play/Pause take time, Redirect/Gather/Record/Dial actions are requested).

It plays Twilio's documented behaviour, the unkind parts included, and counts as an error what Twilio
would make go wrong:
- agents hang up ordinary calls (`agent_hangup_share`): the agent's Dial action comes with
  CallStatus=completed (its TwiML ignored, the leg over, then its status callback) and the caller's
  Enqueue action with QueueResult=bridged, in either order; a caller then parked in a private hold
  queue is an error. After `*` the Dial action says CallStatus=in-progress.
- a `<Dial><Queue>` into a queue that does not exist (queues exist once created through REST or by
  a first `<Enqueue>`; the stand-in keeps the registry) fails at once: DialCallStatus=failed with
  ErrorCode MISSING_QUEUE_ERROR. An agent's leg re-dialling a missing queue in a tight loop is an error.
- a waitUrl that fails (HTTP error, not TwiML, no answer) ends the wait with QueueResult=error; a verb
  Twilio does not allow in waitUrl TwiML (WAIT_VERBS) or in `<Queue url>` TwiML (QUEUE_URL_VERBS) is an error.
- QueueTime is the time the call has spent in that queue on its own (simulated) clock.
- the first request of every inbound leg (callers, agents, supervisors) says CallStatus=ringing, later
  ones in-progress; calls the app creates ring (stand-in status ringing) and request their Url answered
  (in-progress), with the status callbacks their StatusCallbackEvent asks for.
- status callbacks carry Twilio's fields (Timestamp in RFC 2822, CallbackSource, SequenceNumber per call).

Time: simulated seconds run `factor` times faster than real ones ("1d/60s" is a day in a minute).
HTTP latency is real time too, so it costs `factor` simulated seconds per real second. Loops (a
waitUrl polled again, a Redirect back to the same path) are throttled to one request per `poll_floor`
real seconds per leg: the skipped polls are those whose answer would not have changed, and a leg's
partner (the agent of its last bridge, or the caller) cuts the wait short whenever it acts. Two requests
Twilio sends at the same moment for the two sides of a bridge go one after the other, the second once the
first is answered (PARTNER_WAIT real seconds at most). Whether an agent's leg loops is judged on its own
TwiML clock (the Pause and Play time the app asked for), which the throttle does not stretch. After a
desk flag the caller stays until the app's REST redirect arrives (DESK_MOVE_WAIT real seconds at
least), since that round trip through RQ takes real time. The app itself stamps events with its own
clock, so its reports see the run's real minute, not the simulated day (unless IVR_SIMULATION_CLOCK=1).

Everything runs on one asyncio loop; HTTP goes through a bounded thread pool with `requests`.
"""

from __future__ import annotations

from ivr.simulate.agents import AgentsMixin
from ivr.simulate.player import PlayerMixin
from ivr.simulate.rest import RestMixin
from ivr.simulate.switchboard import SwitchboardMixin


class Simulator(PlayerMixin, SwitchboardMixin, AgentsMixin, RestMixin):
    """Plays Twilio (callers, queues, agents, REST moves) against the service at `cfg.target`."""
