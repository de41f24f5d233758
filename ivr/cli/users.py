"""`ivr users ...`: desk users from the server's shell (the first admin; rescue when nobody can log in).

Passwords are prompted (hidden, typed twice) so they never land in the shell's history; scripts can
pipe one line with --password-stdin. Every problem prints one line `error: ...` and exits 2.
"""

from __future__ import annotations

import sys

import click

from blocklist.store import connect
from ivr.accounts import ROLES, Users
from ivr.cli.common import CliError, _Group, operator, settings_with_redis


def _users() -> Users:
    ctx = click.get_current_context()
    cached = ctx.meta.get("ivr.users")
    if cached is None:
        s = settings_with_redis()
        cached = Users(connect(s.redis_url, socket_timeout=10), s.default_region,
                       session_seconds=max(1, s.session_hours) * 3600)
        ctx.meta["ivr.users"] = cached
    return cached  # type: ignore[no-any-return]


_operator = operator


def _password(from_stdin: bool, prompt: str = "Password") -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise CliError("--password-stdin: no password on standard input (pipe one line)")
        return line
    value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


PASSWORD_STDIN = click.option("--password-stdin", is_flag=True,
                              help="Read the password as one line from standard input instead of prompting.")


@click.group(cls=_Group)
def group() -> None:
    """Desk users: the first admin, agents' logins and phones, roles, password resets."""


@group.command("create-admin")
@click.option("--username", default="admin", show_default=True, help="The admin's login name.")
@PASSWORD_STDIN
def create_admin(username: str, password_stdin: bool) -> None:
    """Make an admin (the first one starts the desk); the password is prompted, hidden."""
    store = _users()
    password = _password(password_stdin)
    user = store.create(username, password, "admin", by=_operator(), by_role="admin")
    click.echo(f"admin {user.username} created: log in at /desk/login")


@group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="agent", show_default=True)
@click.option("--phones", default="", help="Agent phones, comma-separated: +14155550123,client:alice")
@PASSWORD_STDIN
def create(username: str, role: str, phones: str, password_stdin: bool) -> None:
    """Add a desk user."""
    store = _users()
    password = _password(password_stdin)
    user = store.create(username, password, role, identities=phones, by=_operator(), by_role="admin")
    click.echo(f"{user.role} {user.username} created" + (f"; phones {', '.join(user.identities)}"
                                                          if user.identities else ""))


@group.command("list")
def list_users() -> None:
    """Every desk user with role, phones and state."""
    users = _users().all()
    if not users:
        click.echo("no desk users yet: run `ivr users create-admin`")
        return
    for u in users:
        click.echo(f"{u.username:24} {u.role:8} {'disabled' if u.disabled else 'active':8} "
                   f"{','.join(u.identities) or '-'}")


@group.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
def set_role(username: str, role: str) -> None:
    """Change a user's role (applies to their open sessions at once)."""
    user = _users().set_role(username, role, by=_operator(), by_role="admin")
    click.echo(f"{user.username} is {user.role}")


@group.command("set-phones")
@click.argument("username")
@click.argument("phones")
def set_phones(username: str, phones: str) -> None:
    """Replace the phones an agent takes calls from ('' for none)."""
    user = _users().set_identities(username, phones, by=_operator(), by_role="admin")
    click.echo(f"{user.username} takes calls from: {', '.join(user.identities) or 'no phone'}")


@group.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable a user: sessions end, API tokens and phones are refused."""
    user = _users().set_disabled(username, True, by=_operator(), by_role="admin")
    click.echo(f"{user.username} disabled")


@group.command("enable")
@click.argument("username")
def enable(username: str) -> None:
    """Enable a disabled user again."""
    user = _users().set_disabled(username, False, by=_operator(), by_role="admin")
    click.echo(f"{user.username} enabled")


@group.command("reset-password")
@click.argument("username")
@PASSWORD_STDIN
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password (prompted); the user's sessions end."""
    store = _users()
    store.require(username)
    password = _password(password_stdin, "New password")
    user = store.set_password(username, password, by=_operator(), by_role="admin")
    click.echo(f"password of {user.username} reset; their sessions ended")
