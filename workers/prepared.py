"""RQ jobs of one kind enqueued on a caller's pipeline with only the per-job work done per job.

RQ builds every job from nothing (a Job object, its options parsed, its hash serialized field by field): about
90 us a job, a tenth of a desk flag. Jobs of one function with the same options write the same commands, except
for the job's id, its arguments (the `data` and `description` fields), and when it was made (`created_at`,
`enqueued_at`). So a `Prepared` asks RQ once to enqueue a probe job into a pipeline it never sends, keeps those
commands as a recipe, and fills in those fields for each job.

The recipe is checked before it is used: RQ enqueues a second probe with other arguments and id, and the recipe
must make exactly the same commands (RQ's own timestamps given to it; the job's data compared decompressed,
see compress()). If it does not (an RQ release that writes
something else), every job goes through RQ's own enqueue, and the log says so once.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

from rq import Queue
from rq.job import validate_job_id
from rq.serializers import JSONSerializer
from rq.utils import get_call_string, now, utcformat

log = logging.getLogger("ivr.jobs")

Command = tuple[tuple[Any, ...], dict[str, Any]]
TIMES = ("created_at", "enqueued_at")  # when the job was made and queued: one instant for both here
DESCRIPTION_LENGTH = 75  # RQ's Job.get_call_string truncates each argument's repr to this
# The second probe's arguments are non-ASCII and longer than RQ's description cut: the check covers both.
PROBES = (("probe-a", ("CA-probe-one", "http://probe.invalid/a?lang=en")),
          ("probe-b", ("CA-probe-two-\u00e9", "https://a-long-public-host-name.probe.invalid/voice/isolation?lang=pt&x=%20" * 2)))


class Prepared:
    """`enqueue(*args, job_id=..., pipeline=...)`: a job of `func` with `options` (as Queue.enqueue takes them)
    queued on `pipeline`, written as RQ writes it. Positional string arguments only (what the recipe was checked
    with); anything else goes through RQ."""

    def __init__(self, queue: Queue, func: Callable[..., Any], **options: Any) -> None:
        if queue.serializer is not JSONSerializer:
            raise ValueError("prepared jobs are JSON: make the queue with workers.queues.queue()")
        self.queue, self.func, self.options = queue, func, options
        self.func_name = f"{func.__module__}.{func.__qualname__}"
        self.recipe: list[Step] | None = None
        (id_a, args_a), (id_b, args_b) = PROBES
        recipe = _as_recipe(self._by_rq(id_a, args_a), id_a)
        made_by_rq = self._by_rq(id_b, args_b)
        stamps = {name: _field(made_by_rq, name) for name in TIMES}
        if _readable(_made(recipe, self, id_b, args_b, stamps)) == _readable(made_by_rq):
            self.recipe = recipe
        else:
            log.warning("RQ %s writes %s jobs differently from its own probe: every such job goes through RQ's "
                        "enqueue (slower, same jobs)", _rq_version(), self.func_name)

    def _by_rq(self, job_id: str, args: Sequence[Any]) -> list[Command]:
        """What RQ's own enqueue queues on a pipeline for this job (the pipeline is never sent)."""
        pipe = self.queue.connection.pipeline(transaction=False)
        try:
            self.queue.enqueue(self.func, *args, job_id=job_id, pipeline=pipe, **self.options)
            return [(tuple(command), dict(opts)) for command, opts in pipe.command_stack]
        finally:
            pipe.reset()

    def enqueue(self, *args: Any, job_id: str, pipeline: Any) -> str:
        """Queue the job on `pipeline` (it exists once the pipeline runs); returns its id."""
        if self.recipe is None or not all(type(arg) is str for arg in args):
            return str(self.queue.enqueue(self.func, *args, job_id=job_id, pipeline=pipeline, **self.options).id)
        validate_job_id(job_id)  # what RQ refuses (ValueError, TypeError), refused alike
        stamp = utcformat(now())
        for command, opts in _made(self.recipe, self, job_id, args, dict.fromkeys(TIMES, stamp)):
            pipeline.execute_command(*command, **opts)
        return job_id


Slot = tuple[int, str, str]  # a place filled per job: (index in the command, kind, the text around the id)
Step = tuple[tuple[Any, ...], dict[str, Any], tuple[Slot, ...]]


def _as_recipe(commands: list[Command], job_id: str) -> list[Step]:
    """The probe's commands, each with the places of its id (alone or in a key), its times, data and description."""
    recipe: list[Step] = []
    for command, opts in commands:
        slots: list[Slot] = []
        fields = _hset_values(command)
        for i, part in enumerate(command[1:], start=1):
            field = fields.get(i)
            if field in TIMES:
                slots.append((i, "time", str(field)))
            elif field in ("data", "description"):
                slots.append((i, str(field), ""))
            elif isinstance(part, str) and job_id in part:
                slots.append((i, "id", part))
        recipe.append((command, opts, tuple(slots)))
    return recipe


def _made(recipe: list[Step], p: Prepared, job_id: str, args: Sequence[Any], stamps: dict[str, Any]) -> list[Command]:
    """The recipe's commands for one job."""
    probe_id = PROBES[0][0]
    fill = {"data": compress(JSONSerializer.dumps((p.func_name, None, tuple(args), {}))),
            "description": p.options.get("description") or get_call_string(p.func_name, tuple(args), {},
                                                                            max_length=DESCRIPTION_LENGTH)}
    out: list[Command] = []
    for command, opts, slots in recipe:
        parts = list(command)
        for i, kind, text in slots:
            parts[i] = (text.replace(probe_id, job_id) if kind == "id" else stamps[text] if kind == "time"
                        else fill[kind])
        out.append((tuple(parts), dict(opts)))
    return out


def compress(data: bytes) -> bytes:
    """A job's data as a zlib stream, as RQ stores it, with a 512-byte window: zlib.compress's default state is
    over 256 KiB, which malloc may map and unmap on every call (10-60 us here for ~100 bytes); this one costs a
    few us. RQ reads it with zlib.decompress like its own (it holds the window size in its header)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 9, 1)
    return packer.compress(data) + packer.flush()


def _hset_values(command: tuple[Any, ...]) -> dict[int, Any]:
    """Of `HSET key field value ...`: each value's index in the command, with its field ({} for other commands)."""
    if str(command[0]).upper() != "HSET" or len(command) % 2:
        return {}
    return {i + 1: command[i] for i in range(2, len(command), 2)}


def _readable(commands: list[Command]) -> list[Command]:
    """Commands with a job's `data` decompressed: two zlib streams of the same bytes are the same data."""
    out: list[Command] = []
    for command, opts in commands:
        parts = list(command)
        for i, field in _hset_values(command).items():
            if field == "data" and isinstance(parts[i], bytes):
                parts[i] = zlib.decompress(parts[i])
        out.append((tuple(parts), opts))
    return out


def _field(commands: list[Command], name: str) -> Any:
    """The value of field `name` in the HSETs of some commands (None: not written)."""
    for command, _opts in commands:
        for i, field in _hset_values(command).items():
            if field == name:
                return command[i]
    return None


def _rq_version() -> str:
    return f"rq {version('rq')}"
