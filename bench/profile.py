"""Profile one endpoint under load: `python -m bench.profile [--target incoming|flag|isolation]`.

Starts Redis (with --entries numbers on the list) and the product under gunicorn as `ivr serve` runs it,
drives it with wrk for --seconds, and samples every worker with py-spy (`pip install py-spy`; needs
ptrace rights, e.g. root). Only samples holding the GIL are kept (--gil), so the table is where the
web workers spend CPU, not where they wait. Prints inclusive and self shares of the request samples and
keeps the raw collapsed stacks (feed them to flamegraph.pl or speedscope).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import redis
from twilio.request_validator import RequestValidator

from bench import data, load, servers
from bench.runner import API_TOKEN, AUTH_TOKEN, product_env
from ivr.cli.serve import PRODUCT_APP


def frame_name(frame: str) -> str:
    """'func (path/to/file.py:12)' -> 'func (file.py)'."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1]})" if where else name


def summarise(raw: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any("handle_request" in f for f in frames):
            continue  # the arbiter, idle loops
        n = int(count)
        total += n
        for name in {frame_name(f) for f in frames}:
            inclusive[name] += n
        own[frame_name(frames[-1])] += n
    out = [f"{total} request samples holding the GIL", "", "inclusive:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top) if total]
    out += ["", "self:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top // 2) if total]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", choices=("incoming", "flag", "isolation"), default="incoming")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--conns", type=int, default=32)
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--top", type=int, default=50)
    p.add_argument("--out", type=Path, help="where to keep the raw py-spy stacks (default: scratch folder)")
    args = p.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="ivr-profile-"))
    server = servers.start_redis(folder / "redis")
    web = None
    try:
        r = redis.Redis(port=server.port, decode_responses=True)
        plan = data.NumberPlan.build()
        ruled = set(plan.prefix_exchanges(1000))
        data.load_blocklist(r, plan.blocked_numbers(args.entries, ruled))
        data.load_prefixes(r, (plan.exchange(x) for x in sorted(ruled)))
        data.every_signal_on(r)
        port = servers.free_port()
        base = f"http://127.0.0.1:{port}"
        env = product_env(base, folder / "var", REDIS_URL=server.url)
        web = servers.Web("product", PRODUCT_APP, env, folder, servers.web_workers(), port).start()
        validator = RequestValidator(AUTH_TOKEN)
        callers = plan.callers(int(args.seconds * 6000) + 2000, ruled, salt=1)
        if args.target == "incoming":
            requests = data.incoming_set(folder, "incoming", validator, base, callers).file
        elif args.target == "isolation":
            requests = data.isolation_wait_set(folder, validator, base)
        else:
            requests = data.flag_set(folder, "flag", API_TOKEN, data.screened_calls(r, callers[: int(args.seconds * 2500)]))
        wait = args.target == "flag"  # as the flag's target rows: clients that wait Retry-After out (runner.py)
        load.run("warm-up", web.url, requests, args.conns, 2, wait_retry_after=wait)
        raw = args.out or folder / "stacks.txt"
        assert web.process is not None
        sampler = subprocess.Popen([spy, "record", "-p", str(web.process.pid), "--subprocesses", "--gil",
                                    "--nonblocking", "-r", "200", "-d", str(int(args.seconds)), "-f", "raw",
                                    "-o", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = load.run(args.target, web.url, requests, args.conns, args.seconds + 1, wait_retry_after=wait)
        sampler.wait(args.seconds + 60)
        print(f"{args.target}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms "
              f"(under the sampler), errors {result.errors}")
        print(summarise(raw, args.top))
        print(f"\nraw stacks: {raw}")
        return 0
    finally:
        if web:
            web.stop()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
