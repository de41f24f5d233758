"""`python -m bench` (or `./dev bench`): the whole bench in one run on loopback; see bench/README.md."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load, results, servers
from bench.runner import Options, WebBench

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller sizes and shorter runs (a few minutes)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for <UTC date-time>.md/.json")
    p.add_argument("--seconds", type=float, help="length of each timed run (default 8, quick 3)")
    p.add_argument("--reps", type=int, help="interleaved rounds per comparison (default 5, quick 3)")
    p.add_argument("--entries", type=int, help="blocklist size (default 1,000,000, quick 100,000)")
    p.add_argument("--events", type=int, help="events in the year of report data (default 1,000,000)")
    p.add_argument("--skip-web", action="store_true", help="only the aggregation and report part")
    p.add_argument("--skip-reports", action="store_true", help="only the web part")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, Redis data)")
    p.add_argument("--note", default="", help="free text recorded with the results")
    return p.parse_args(argv)


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), "")
    wrk = subprocess.run([load.wrk_path(), "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    return (f"{os.cpu_count()} CPUs ({model or platform.machine()}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, gunicorn {servers.web_workers()} workers x 4 threads, "
            f"{' '.join(wrk.split()[:2])}; wrk, Redis and every web server share these CPUs")


def tree() -> str:
    root = servers.ROOT
    if not (root / ".git").exists():
        return f"{root} (not a git checkout)"
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return f"commit {head}" + (" + uncommitted changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    options = Options.make(args.quick, seconds=args.seconds, reps=args.reps, entries=args.entries, events=args.events,
                           note=args.note)
    load.wrk_path()  # fail before minutes of loading if the load tool is missing
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    folder = Path(tempfile.mkdtemp(prefix="ivr-bench-"))

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.0f}s] {message}", flush=True)

    log(f"scratch folder {folder}")
    result: dict[str, Any] = {
        "stamp": stamp, "command": "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv),
        "tree": tree(), "machine": machine(), "options": vars(options), "runs": [], "facts": {},
    }
    bench = WebBench(options, folder, log)
    try:
        if not args.skip_web:
            result.update(bench.run())
        bench.stop()
        if not args.skip_reports:
            from bench import aggregation

            result.update(aggregation.run(options, folder / "reports", log))
    finally:
        bench.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    results.finish(result)
    result["wall_seconds"] = round(time.monotonic() - started)
    md, js, prev = results.write(args.out, result)
    text = md.read_text()
    print()
    print(text.split("\n## Every run")[0])
    log(f"results written to {md} and {js}" + (f" (compared with {prev[0]})" if prev else ""))
    return 0 if all(t["met"] for t in result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
