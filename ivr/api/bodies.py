"""What the JSON API reads from a request body, one way for every route: the object, a text field, the reason
people must give, and who acted."""

from __future__ import annotations

from typing import Any

from flask import request

from ivr.auth import acting_name, current_principal


def body() -> dict[str, Any]:
    """The JSON object sent, {} when there is no body; ValueError for anything else."""
    if not request.get_data(cache=True):
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValueError("send a JSON object as the body, with Content-Type: application/json")
    return data


def text(data: dict[str, Any], name: str, default: str = "") -> str:
    """A text field (a number is taken as its text); ValueError for objects, lists and booleans."""
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValueError(f"{name} must be text")
    return str(value).strip()


def reason(data: dict[str, Any], what: str, goes_into: str = "the number's history") -> str:
    """The reason a change needs; ValueError saying what to write when there is none."""
    given = text(data, "reason")
    if not given:
        raise ValueError(f"say why ({what}) in 'reason'; it goes into {goes_into}")
    return given


def acted_by(data: dict[str, Any] | None = None) -> str:
    """Who did it: a desk user or user token is recorded by name; only the service token may name the person
    behind an integration (`by` in the body or the query)."""
    return acting_name(text(data or {}, "by") or request.args.get("by", ""))


def acting_role() -> str:
    """The role of who asks (the service token acts as a manager)."""
    principal = current_principal()
    return principal.role if principal is not None else "manager"
