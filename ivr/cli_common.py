"""What every `ivr` command group shares: one `error: ...` line and exit 2 instead of a traceback."""

from __future__ import annotations

from typing import Any

import click
import redis


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
