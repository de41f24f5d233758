"""Trim Twilio's OpenAPI description of its 2010-04-01 API to what this service calls.

    python -m ivr.simulate.twilio_oai.trim /path/to/twilio_api_v2010.json [out.json]

Keeps the operations in OPERATIONS and every component they reference (recursively), drops the prose
(descriptions, summaries, examples), the response headers (CORS) and the x-twilio annotations except an
operation's `conditional` (its one-of parameter groups), and writes twilio_api_v2010_subset.json next to
this file unless another output path is given. What is left is only what validation reads."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SOURCE = {"repository": "twilio/twilio-oai", "path": "spec/json/twilio_api_v2010.json", "commit": "d50069b",
          "licence": "MIT", "trimmed_by": "python -m ivr.simulate.twilio_oai.trim (ivr/simulate/twilio_oai/trim.py)"}
ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"
# path -> the methods of it the service uses (workers/twilio_rest.py, workers/calls.py, workers/callbacks.py)
OPERATIONS: dict[str, tuple[str, ...]] = {
    f"{ACCOUNT}/Calls.json": ("post",),  # calls.create (call backs)
    f"{ACCOUNT}/Calls/{{Sid}}.json": ("get", "post"),  # calls(sid).fetch / .update (redirects)
    f"{ACCOUNT}/Queues.json": ("get", "post"),  # queues.list / queues.create
    f"{ACCOUNT}/Queues/{{Sid}}.json": ("get", "post", "delete"),  # queues(sid).fetch / .update / .delete
}
PROSE = {"description", "summary", "examples", "example", "tags"}
DEFAULT_OUT = Path(__file__).with_name("twilio_api_v2010_subset.json")


def _strip(node: Any, in_responses: bool = False) -> Any:
    """Drop prose and annotations; a Response Object keeps its description (OpenAPI requires it)."""
    if isinstance(node, list):
        return [_strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in PROSE and not (key == "description" and in_responses and isinstance(value, str)):
            continue
        if key == "headers" and in_responses:
            continue
        if key == "x-twilio":
            if isinstance(value, dict) and "conditional" in value:
                out[key] = {"conditional": value["conditional"]}
            continue
        if key == "responses" and isinstance(value, dict):
            out[key] = {code: _strip(resp, in_responses=True) for code, resp in value.items()}
            continue
        out[key] = _strip(value)
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _refs(item, found)


def trim(doc: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, methods in OPERATIONS.items():
        item = doc["paths"][path]
        missing = [m for m in methods if m not in item]
        if missing:
            raise KeyError(f"{path} has no {', '.join(missing)} operation in this document")
        paths[path] = {m: _strip(item[m]) for m in methods}
    schemas = doc["components"]["schemas"]
    wanted: set[str] = set()
    _refs(paths, wanted)
    done: set[str] = set()
    while wanted - done:  # components referencing components
        name = sorted(wanted - done)[0]
        done.add(name)
        _refs(schemas[name], wanted)
    info = {k: doc["info"][k] for k in ("title", "version") if k in doc["info"]}
    info["x-source"] = SOURCE
    return {
        "openapi": doc["openapi"], "info": info, "servers": doc.get("servers", []),
        "security": doc.get("security", []), "paths": paths,
        "components": {"securitySchemes": doc["components"].get("securitySchemes", {}),
                       "schemas": {name: _strip(schemas[name]) for name in sorted(done)}},
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or len(args) > 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    doc = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    out = Path(args[1]) if len(args) == 2 else DEFAULT_OUT
    out.write_text(json.dumps(trim(doc), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
