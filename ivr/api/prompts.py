"""The prompt recordings through the API: list, install a manager's own, remove it (audited)."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Response, jsonify, request

import prompts
from blocklist import events
from ivr.auth import acting_name, api_auth, current_principal, require_role
from ivr.problems import problem
from ivr.resources import resources
from ivr.webhooks.blueprints import media_bp
from ivr.webhooks.media import LANGUAGES, catalog, override_dir, prompt_url
from prompts import catalog as catalog_mod
from prompts.wav import MAX_BYTES

log = logging.getLogger("ivr.media")


def _api_error(status: int, code: str, detail: str) -> tuple[Response, int]:
    return problem(status, code, detail)


def _describe(lang: str, key: str) -> dict[str, Any]:
    found = catalog().recording(lang, key)
    return {
        "lang": lang,
        "prompt": key,
        "source": found.source if found else "say",
        "url": prompt_url(found) if found else None,
    }


def _check_target(lang: str, key: str) -> None:
    prompts.check_language(lang)
    prompts.split_key(key)


def _audit(action: str, lang: str, key: str, detail: str) -> None:
    try:
        p = current_principal()
        events.audit(resources().store, by=acting_name(request.args.get("by", "")), role=p.role if p else "",
                     action=action, scope=lang, reason=f"{key}: {detail}")
    except (redis.RedisError, OSError) as exc:
        # The file change has happened; losing its audit line must not turn it into an error.
        log.error("could not audit %s of prompt %s/%s: %s", action, lang, key, exc)


@media_bp.get("/api/prompts")
@api_auth
def list_prompts() -> Any:
    """Every prompt recording per language, and whether a manager's own or the shipped one plays."""
    return jsonify({"prompts": [_describe(lang, key) for lang in LANGUAGES for key in prompts.all_recording_keys()]})


@media_bp.put("/api/prompts/<lang>/<key>")
@api_auth
@require_role("manager")
def upload_prompt(lang: str, key: str) -> Any:
    """Install a manager's recording (raw WAV body, or multipart field `file`) after checking it."""
    try:
        _check_target(lang, key)
    except ValueError as exc:
        return _api_error(404, "unknown_prompt", str(exc))
    # Recordings are bigger than webhook bodies (IVR_MAX_BODY_BYTES); allow this one route more.
    request.max_content_length = MAX_BYTES + 65536
    upload = request.files.get("file")
    data = upload.read() if upload is not None else request.get_data()
    try:
        path, info, digest = catalog_mod.install(override_dir(), lang, key, data)
    except ValueError as exc:
        return _api_error(400, "unusable_recording", f"{lang}/{key}: {exc}")
    catalog().invalidate()
    _audit("prompt_install", lang, key, f"{info.describe()}, sha256 {digest}")
    return jsonify({**_describe(lang, key), "format": info.describe()}), 201


@media_bp.delete("/api/prompts/<lang>/<key>")
@api_auth
@require_role("manager")
def remove_prompt(lang: str, key: str) -> Any:
    """Remove a manager's recording: the shipped one plays again."""
    try:
        _check_target(lang, key)
    except ValueError as exc:
        return _api_error(404, "unknown_prompt", str(exc))
    if not catalog_mod.remove(override_dir(), lang, key):
        return _api_error(404, "no_override", f"{lang}/{key} has no manager recording; the shipped one plays")
    catalog().invalidate()
    _audit("prompt_remove", lang, key, "back to the shipped recording")
    return jsonify(_describe(lang, key)), 200
