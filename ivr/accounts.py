"""Desk users: hashed passwords, roles, phone identities, server-side sessions, API tokens, login throttling.

No Flask in here: the web desk, `ivr.auth` and the `ivr users` command all use this one store.
Passwords are hashed with werkzeug's scrypt; API tokens are stored only as their SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from werkzeug.security import check_password_hash, generate_password_hash

from blocklist import events
from blocklist.clock import now_ms
from blocklist.keys import Desk as dk
from blocklist.numbers import WITHHELD, normalize
from blocklist.text import clean_text
from ivr.resources import resources
from prompts import LANGUAGES

log = logging.getLogger("ivr.desk.users")

ROLES = ("agent", "manager", "admin")
RANK = {role: n for n, role in enumerate(ROLES, start=1)}
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
CLIENT_ID = re.compile(r"^client:[A-Za-z0-9_.@\-]{1,64}$")  # the same rule as ivr.webhooks.agent.identity_of
MIN_PASSWORD = 10
MAX_PASSWORD = 200
MAX_IDENTITIES = 10
MAX_TOKENS = 20
TOKEN_PREFIX = "ivr_"
WATCH_RETRIES = 5
# Checked when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password-0123456789")

# Count the attempt, then decide: KEYS user and address counters; ARGV window, user limit, address limit.
_ATTEMPT = """
local wait = 0
local limits = {tonumber(ARGV[2]), tonumber(ARGV[3])}
for i = 1, 2 do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('EXPIRE', KEYS[i], ARGV[1]) end
  if n > limits[i] then wait = math.max(wait, redis.call('TTL', KEYS[i]), 1) end
end
return wait
"""
# A bearer token's record and the user it names, in one round trip (every API request with a user's token
# makes it). KEYS token hash; ARGV the user-key prefix, which the token's `user` completes (one Redis or a
# Sentinel-managed primary, never a cluster). Returns {token fields, user fields} as flat lists.
_TOKEN_USER = """
local token = redis.call('HGETALL', KEYS[1])
local name = redis.call('HGET', KEYS[1], 'user')
if not name or name == '' then return {token, {}} end
return {token, redis.call('HGETALL', ARGV[1] .. name)}
"""
# KEYS user counter, address counter, "this user already gave the address an attempt back"; ARGV window.
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[1]) and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  redis.call('DECR', KEYS[2])
end
return 1
"""


@dataclass(frozen=True)
class User:
    """One desk user as stored (never the password hash)."""

    username: str
    role: str
    identities: tuple[str, ...]
    disabled: bool
    epoch: int
    created: int
    token_epoch: int = 0  # bumped whenever every API token is revoked; a token minted before it is dead
    language: str = ""  # the desk's language chosen on the account page; empty: the browser's language

    def at_least(self, role: str) -> bool:
        return RANK.get(self.role, 0) >= RANK[role]


def _user_from(data: dict[str, str]) -> User | None:
    if not data or not data.get("username"):
        return None
    return User(
        username=data["username"],
        role=data.get("role", "agent"),
        identities=tuple(i for i in data.get("identities", "").split(",") if i),
        disabled=data.get("disabled") == "1",
        epoch=int(data.get("epoch") or 0),
        created=int(data.get("created") or 0),
        token_epoch=int(data.get("token_epoch") or 0),
        language=data.get("language", ""),
    )


def check_username(raw: str) -> str:
    """The username as stored (lower case); ValueError saying how to write one."""
    name = (raw or "").strip().lower()
    if not USERNAME.match(name):
        raise ValueError(f"username {clean_text(raw, 40)!r} is not allowed: use 2 to 32 letters, digits, '.', '_' "
                         "or '-', starting with a letter or digit")
    return name


def check_role(role: str) -> str:
    role = (role or "").strip().lower()
    if role not in ROLES:
        raise ValueError(f"role {clean_text(role, 20)!r} unknown: use one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValueError(f"the password is too short: use at least {MIN_PASSWORD} characters (a passphrase is best)")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password is longer than {MAX_PASSWORD} characters")
    return password


def normalize_identity(raw: str, region: str = "US") -> str:
    """An agent's phone identity: E.164 or client:NAME; ValueError saying how to write it."""
    text = (raw or "").strip()
    if text.startswith("client:"):
        if not CLIENT_ID.match(text):
            raise ValueError(f"{clean_text(text, 80)!r}: a softphone identity is client: and 1 to 64 letters, digits, "
                             "'_', '.', '@' or '-'")
        return text
    number = normalize(text, region)
    if number == WITHHELD:
        raise ValueError(f"{clean_text(text, 40)!r} is not a phone number: give the agent's phone as +14155550123 "
                         "or a softphone as client:name")
    return number


def parse_identities(text: str | Iterable[str], region: str = "US") -> tuple[str, ...]:
    """Comma- (or newline-) separated identities, normalised, without duplicates; ValueError on the first bad one."""
    items = re.split(r"[,;\n]+", text) if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        if item.strip():
            ident = normalize_identity(item, region)
            if ident not in out:
                out.append(ident)
    if len(out) > MAX_IDENTITIES:
        raise ValueError(f"{len(out)} phone identities: an agent has at most {MAX_IDENTITIES}")
    return tuple(out)


def identity_registered(identity: str, connection: redis.Redis | None = None) -> bool:
    """True when a desk user (not disabled) owns this agent identity: one HEXISTS.

    For `ivr.webhooks.agent.registered_agents()`: inside a request it uses the webhook's fast client. A Redis
    failure answers False (the agent is refused, as an unknown one would be) and is logged.
    """
    if connection is None:
        connection = resources().fast
    try:
        return bool(connection.hexists(dk.IDENTITIES, identity))
    except (redis.RedisError, OSError) as exc:
        log.warning("could not check desk agent identity (%s); refusing it for now", type(exc).__name__)
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    """The desk's users on one Redis database (a decoded client)."""

    def __init__(self, connection: redis.Redis, default_region: str = "US", session_seconds: int = 12 * 3600) -> None:
        self.r = connection
        self.region = default_region
        self.session_seconds = session_seconds
        self._attempt = connection.register_script(_ATTEMPT)
        self._succeeded = connection.register_script(_SUCCEEDED)
        self._token_user = connection.register_script(_TOKEN_USER)

    # ---- users -------------------------------------------------------------------------------------
    def get(self, username: str) -> User | None:
        try:
            name = check_username(username)
        except ValueError:
            return None
        return _user_from(self.r.hgetall(dk.user(name)))

    def require(self, username: str) -> User:
        user = self.get(username)
        if user is None:
            raise LookupError(f"no desk user {clean_text(username, 40)!r}: see `ivr users list`")
        return user

    def all(self) -> list[User]:
        names = sorted(self.r.smembers(dk.USERS))
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(dk.user(name))
        return [u for u in (_user_from(d) for d in pipe.execute()) if u]

    def count_admins(self) -> int:
        return sum(1 for u in self.all() if u.role == "admin" and not u.disabled)

    def create(self, username: str, password: str, role: str, *, identities: str | Iterable[str] = (),
               by: str, by_role: str = "admin") -> User:
        """Add a user; ValueError when the name is taken or anything is malformed (nothing is written then)."""
        name = check_username(username)
        role = check_role(role)
        check_password(password)
        idents = parse_identities(identities, self.region)
        at = now_ms()
        fields = {"username": name, "role": role, "pw": generate_password_hash(password), "identities": ",".join(idents),
                  "disabled": "0", "epoch": "1", "created": str(at), "created_by": clean_text(by)}

        def work(pipe: Any) -> None:
            if pipe.exists(dk.user(name)):
                raise ValueError(f"user {name!r} exists already: pick another name, or reset its password")
            self._check_free(pipe, name, idents)
            pipe.multi()
            pipe.hset(dk.user(name), mapping=fields)
            pipe.sadd(dk.USERS, name)
            if idents:
                pipe.hset(dk.IDENTITIES, mapping={i: name for i in idents})
            self._audit(pipe, by, by_role, "user_create", name, f"role {role}" + (f"; phones {', '.join(idents)}"
                                                                                   if idents else ""))
            pipe.execute()

        self._watched([dk.user(name), dk.IDENTITIES], work)
        return self.require(name)

    def _check_free(self, pipe: Any, name: str, idents: Iterable[str]) -> None:
        idents = list(idents)
        if not idents:
            return
        owners = pipe.hmget(dk.IDENTITIES, idents)
        for ident, owner in zip(idents, owners, strict=True):
            if owner and owner != name:
                raise ValueError(f"{ident} already belongs to desk user {owner!r}: take it off that user first")

    def _watched(self, watch: list[str], work: Any) -> Any:
        for _ in range(WATCH_RETRIES):
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(*watch)
                    return work(pipe)
                except redis.WatchError:
                    continue
        raise RuntimeError("the users changed while this was being saved; try again")

    def _audit(self, pipe: Any, by: str, by_role: str, action: str, subject: str, detail: str) -> None:
        events.audit(pipe, by=by, role=by_role, action=action, subject=subject, reason=detail)

    def set_role(self, username: str, role: str, *, by: str, by_role: str = "admin") -> User:
        """Change a user's role; it applies to their open sessions at once, and their API tokens end (a
        token made for one role must not carry another)."""
        user = self.require(username)
        role = check_role(role)
        if user.role == "admin" and role != "admin" and not user.disabled and self.count_admins() <= 1:
            raise ValueError(f"{user.username} is the last admin: make another user admin first")
        if role == user.role:
            return user
        revoked = self._token_digests(user.username)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(dk.user(user.username), "role", role)
        self._revoke_all(pipe, user.username, revoked)
        self._audit(pipe, by, by_role, "user_role", user.username,
                    f"{user.role} -> {role}" + (f"; {len(revoked)} API token(s) revoked" if revoked else ""))
        pipe.execute()
        return self.require(user.username)

    def set_password(self, username: str, password: str, *, by: str, by_role: str = "admin") -> User:
        """New password; every open session of the user ends, and every API token is revoked."""
        user = self.require(username)
        check_password(password)
        revoked = self._token_digests(user.username)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(dk.user(user.username), "pw", generate_password_hash(password))
        pipe.hincrby(dk.user(user.username), "epoch", 1)
        self._revoke_all(pipe, user.username, revoked)
        self._audit(pipe, by, by_role, "user_password", user.username,
                    "password reset; sessions ended" + (f"; {len(revoked)} API token(s) revoked" if revoked else ""))
        pipe.execute()
        return self.require(user.username)

    def set_language(self, username: str, language: str, *, by: str, by_role: str) -> User:
        """The desk's language for one user (empty: follow the browser); one of prompts.LANGUAGES."""
        user = self.require(username)
        if language and language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}")
        if language == user.language:
            return user
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(dk.user(user.username), "language", language)
        self._audit(pipe, by, by_role, "user_language", user.username,
                    f"{user.language or 'browser'} -> {language or 'browser'}")
        pipe.execute()
        return self.require(user.username)

    def _token_digests(self, username: str) -> list[str]:
        return [json.loads(raw)["digest"] for raw in self.r.hvals(dk.user_tokens(username))]

    def _revoke_all(self, pipe: Any, username: str, digests: list[str]) -> None:
        """Every API token of the user stops working for good (a later enable does not bring one back)."""
        for digest in digests:
            pipe.delete(dk.token(digest))
        pipe.delete(dk.user_tokens(username))
        # A token minted while this ran (listed too late to be deleted above) carries the old epoch.
        pipe.hincrby(dk.user(username), "token_epoch", 1)

    def set_disabled(self, username: str, disabled: bool, *, by: str, by_role: str = "admin") -> User:
        """Disable (sessions end, tokens stop working, phones are refused) or enable a user again."""
        user = self.require(username)
        if disabled and user.role == "admin" and not user.disabled and self.count_admins() <= 1:
            raise ValueError(f"{user.username} is the last admin: make another user admin first")

        revoked = self._token_digests(user.username) if disabled else []

        def work(pipe: Any) -> None:
            if not disabled:
                self._check_free(pipe, user.username, user.identities)
            pipe.multi()
            pipe.hset(dk.user(user.username), "disabled", "1" if disabled else "0")
            pipe.hincrby(dk.user(user.username), "epoch", 1)
            if disabled:
                self._revoke_all(pipe, user.username, revoked)
            if user.identities:
                if disabled:
                    pipe.hdel(dk.IDENTITIES, *user.identities)
                else:
                    pipe.hset(dk.IDENTITIES, mapping={i: user.username for i in user.identities})
            self._audit(pipe, by, by_role, "user_disable" if disabled else "user_enable", user.username,
                        "disabled; sessions ended, API tokens revoked, phones refused" if disabled
                        else "enabled (its old API tokens stay revoked)")
            pipe.execute()

        self._watched([dk.IDENTITIES], work)
        return self.require(user.username)

    def set_identities(self, username: str, identities: str | Iterable[str], *, by: str,
                       by_role: str = "manager") -> User:
        """Replace the phones (E.164 or client:NAME) an agent takes calls from; each belongs to one user."""
        user = self.require(username)
        idents = parse_identities(identities, self.region)

        def work(pipe: Any) -> None:
            self._check_free(pipe, user.username, idents)
            gone = [i for i in user.identities if i not in idents]
            pipe.multi()
            if gone:
                pipe.hdel(dk.IDENTITIES, *gone)
            if idents and not user.disabled:
                pipe.hset(dk.IDENTITIES, mapping={i: user.username for i in idents})
            pipe.hset(dk.user(user.username), "identities", ",".join(idents))
            self._audit(pipe, by, by_role, "user_phones", user.username,
                        f"phones: {', '.join(idents) or 'none'}")
            pipe.execute()

        self._watched([dk.user(user.username), dk.IDENTITIES], work)
        return self.require(user.username)

    def owner_of(self, identity: str) -> str:
        return str(self.r.hget(dk.IDENTITIES, identity) or "")

    def verify(self, username: str, password: str) -> User | None:
        """The user when the password is right and the user is enabled; None otherwise (same time either way)."""
        try:
            name = check_username(username)
        except ValueError:
            name = ""
        data = self.r.hgetall(dk.user(name)) if name else {}
        stored = data.get("pw") or _DUMMY_HASH
        ok = check_password_hash(stored, password or "")
        user = _user_from(data)
        if not ok or user is None or user.disabled:
            return None
        return user

    # ---- sessions ----------------------------------------------------------------------------------
    def start_session(self, user: User, client: str = "") -> str:
        """A new server-side session (a fresh id at every login: no fixation)."""
        sid = secrets.token_urlsafe(32)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(dk.session(sid), mapping={"user": user.username, "epoch": str(user.epoch), "created": str(now_ms()),
                                            "client": clean_text(client, 64)})
        pipe.expire(dk.session(sid), self.session_seconds)
        pipe.execute()
        return sid

    def session_user(self, sid: str, username: str) -> User | None:
        """The session's user while the session is alive and still valid (one round trip; slides the expiry)."""
        if not sid or not username:
            return None
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(dk.session(sid))
        pipe.hgetall(dk.user(username))
        pipe.expire(dk.session(sid), self.session_seconds)
        data, user_data, _ = pipe.execute()
        user = _user_from(user_data)
        if not data or user is None or data.get("user") != user.username:
            return None
        if user.disabled or data.get("epoch") != str(user.epoch):
            self.r.delete(dk.session(sid))
            return None
        return user

    def end_session(self, sid: str) -> None:
        if sid:
            self.r.delete(dk.session(sid))

    # ---- API tokens --------------------------------------------------------------------------------
    def create_token(self, username: str, name: str, *, by: str, by_role: str) -> tuple[str, str]:
        """A new API token for the user: (token id, the token). The token is shown once and never stored."""
        user = self.require(username)
        label = clean_text(name, 60).strip()
        if not label:
            raise ValueError("give the token a name that says where it is used, e.g. 'crm-sync'")
        if self.r.hlen(dk.user_tokens(user.username)) >= MAX_TOKENS:
            raise ValueError(f"{user.username} has {MAX_TOKENS} tokens already: revoke one that is no longer used")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = token_digest(token)
        token_id = digest[:12]
        at = now_ms()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(dk.token(digest), mapping={"user": user.username, "id": token_id, "name": label, "created": str(at),
                                             "token_epoch": str(user.token_epoch)})
        pipe.hset(dk.user_tokens(user.username), token_id,
                  json.dumps({"name": label, "created": at, "digest": digest}))
        self._audit(pipe, by, by_role, "token_create", user.username, f"API token {token_id} ({label})")
        pipe.execute()
        return token_id, token

    def tokens(self, username: str) -> list[dict[str, Any]]:
        items = self.r.hgetall(dk.user_tokens(username))
        out = [{"id": tid, **{k: v for k, v in json.loads(raw).items() if k != "digest"}} for tid, raw in items.items()]
        return sorted(out, key=lambda t: t["created"])

    def revoke_token(self, username: str, token_id: str, *, by: str, by_role: str) -> bool:
        """Revoke one token; False when the user has no token with that id."""
        raw = self.r.hget(dk.user_tokens(username), token_id)
        if not raw:
            return False
        digest = json.loads(raw)["digest"]
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(dk.token(digest))
        pipe.hdel(dk.user_tokens(username), token_id)
        self._audit(pipe, by, by_role, "token_revoke", username, f"API token {token_id}")
        pipe.execute()
        return True

    def user_for_token(self, token: str) -> User | None:
        """The (enabled) user a bearer token belongs to, or None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        raw_token, raw_user = self._token_user(keys=[dk.token(token_digest(token))], args=[dk.user("")])
        data = dict(zip(raw_token[::2], raw_token[1::2], strict=True))
        if not data:
            return None
        name = data.get("user", "")
        try:  # the script read the user under the name as stored; one not written as a username is looked up
            stored_as_is = check_username(name) == name
        except ValueError:
            return None
        user = _user_from(dict(zip(raw_user[::2], raw_user[1::2], strict=True))) if stored_as_is else self.get(name)
        if user is None or user.disabled:
            return None
        # Tokens from before token epochs existed have none; the revocations of their time deleted them.
        return user if data.get("token_epoch", str(user.token_epoch)) == str(user.token_epoch) else None

    # ---- login throttling --------------------------------------------------------------------------
    def login_attempt(self, username: str, client: str, limit: int, ip_limit: int, window_seconds: int) -> int:
        """Count this attempt first, then decide (one script, so parallel guesses cannot slip past the
        count): seconds to wait when the username or the address is over its limit, 0 to check the password."""
        return int(self._attempt(keys=[self._user_key(username), self._ip_key(client)],
                                 args=[window_seconds, limit, ip_limit]))

    def login_succeeded(self, username: str, client: str, window_seconds: int) -> None:
        """The right password: the username starts over, and the address gets this attempt back once per
        user and window (an office behind one address logs many agents in at the start of a shift, while
        one account's own logins cannot buy an attacker more guesses at other accounts)."""
        user = (username or "").strip().lower()[:64]
        self._succeeded(keys=[self._user_key(username), self._ip_key(client),
                              dk.login_refund(client[:64], user)], args=[window_seconds])

    @staticmethod
    def _user_key(username: str) -> str:
        return dk.login_failures("user", (username or "").strip().lower()[:64])

    @staticmethod
    def _ip_key(client: str) -> str:
        return dk.login_failures("ip", client[:64])
