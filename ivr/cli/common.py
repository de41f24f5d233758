"""What every `ivr` command shares: its settings, the way to Redis (REDIS_URL, else the embedded Redis a
running `ivr serve` announced), who the operator is, and one `error: ...` line with exit 2 instead of a
traceback."""

from __future__ import annotations

import dataclasses
import getpass
import os
from typing import Any

import click
import redis

from blocklist.settings import Settings
from blocklist.store import connect

URL_FILE = "redis.url"  # written by `ivr serve` so other `ivr` commands find the embedded Redis


class CliError(click.ClickException):
    """One line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class _Group(click.Group):
    """A group that turns every failure below it into a CliError line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise CliError(f"cannot reach Redis ({exc}); is `ivr serve` running, and is REDIS_URL right?") from None
        except redis.exceptions.RedisError as exc:
            raise CliError(f"Redis refused the command: {exc}") from None
        except (KeyError, IndexError) as exc:  # a bug, not a user's mistake: say so, still in one line
            raise CliError(f"unexpected {type(exc).__name__}: {exc}; please report it") from None
        except (ValueError, LookupError, RuntimeError) as exc:
            raise CliError(str(exc)) from None
        except OSError as exc:
            raise CliError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None
        except Exception as exc:
            raise CliError(f"unexpected {type(exc).__name__}: {exc}; please report it") from None


def settings() -> Settings:
    """Settings from the environment, or one error line saying what to fix."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise CliError(str(exc)) from None


def redis_url(s: Settings) -> str:
    """REDIS_URL, else the embedded server a running `ivr serve` announced in its data folder."""
    if s.redis_url:
        return s.redis_url
    url_file = s.data_dir / "redis" / URL_FILE
    if url_file.exists():
        return url_file.read_text().strip()
    raise CliError("REDIS_URL is not set and no `ivr serve` is running here (with this IVR_DATA_DIR): start "
                   "`ivr serve` (it runs an embedded Redis), or set REDIS_URL=redis://host:6379/0")


def settings_with_redis() -> Settings:
    """The settings, with the Redis URL every command finds the same way (the environment is not changed)."""
    s = settings()
    return dataclasses.replace(s, redis_url=redis_url(s))


def process_settings() -> Settings:
    """For a long-running process (`ivr web`, `worker`, `cron`): settings_with_redis(), and the Redis URL
    put in this process's own environment, where gunicorn's app factory and the RQ jobs read it."""
    s = settings_with_redis()
    os.environ["REDIS_URL"] = s.redis_url
    return s


def redis_client(timeout: float = 30, decode: bool = True) -> redis.Redis:
    """A client on the Redis the commands use (see redis_url)."""
    return connect(settings_with_redis().redis_url, socket_timeout=timeout, decode=decode)


def operator() -> str:
    """Who runs the command, for history and audit records."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in some containers
        return "cli"
