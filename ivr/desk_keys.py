"""Redis key names of the desk: users, sessions, API tokens, login throttling, agents' notes (`ivr:desk:...`)."""

from __future__ import annotations

PREFIX = "ivr:desk"

USERS = f"{PREFIX}:users"  # set of every username (the users page lists them; a desk has dozens, not millions)
IDENTITIES = f"{PREFIX}:identities"  # hash phone identity (E.164 or client:NAME) -> username
WITHHELD_NOTES = f"{PREFIX}:withheld"  # stream: "note this withheld call's time for the manager" (never trimmed)


def user(username: str) -> str:
    """Hash of one desk user: password hash, role, identities, disabled, epoch (bumped to end every session)."""
    return f"{PREFIX}:user:{username}"


def user_tokens(username: str) -> str:
    """Hash token id -> JSON {name, created, digest} of one user's API tokens."""
    return f"{PREFIX}:user:{username}:tokens"


def token(digest: str) -> str:
    """Hash of one API token, keyed by the SHA-256 of the token (the token itself is never stored)."""
    return f"{PREFIX}:token:{digest}"


def session(session_id: str) -> str:
    """Hash of one logged-in session: user, epoch, created; expires when idle."""
    return f"{PREFIX}:session:{session_id}"


def login_failures(kind: str, subject: str) -> str:
    """Counter of failed logins per username (`user`) or per client address (`ip`) in the lock window."""
    return f"{PREFIX}:login:{kind}:{subject}"


def login_refund(client: str, username: str) -> str:
    """Marker: this user's right password already gave this address one attempt back in the window."""
    return f"{PREFIX}:login:refund:{client}:{username}"
