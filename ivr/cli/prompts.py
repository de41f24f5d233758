"""`ivr prompts ...`: rebuild the shipped recordings, check and install a manager's own."""

from __future__ import annotations

from pathlib import Path

import click

import prompts
from ivr.cli.common import settings as load_settings
from prompts import catalog as catalog_mod
from prompts.wav import check_prompt


def _override_dir() -> Path:
    return Path(load_settings().data_dir) / "prompts"


@click.group()
def group() -> None:
    """Prompt recordings: rebuild the shipped ones, check and install a manager's own."""


@group.command()
@click.option("--lang", "langs", multiple=True, type=click.Choice(prompts.LANGUAGES),
              help="Only this language (repeatable). Default: all.")
@click.option("--force", is_flag=True, help="Rebuild even recordings whose text and voice did not change.")
def build(langs: tuple[str, ...], force: bool) -> None:
    """Rebuild recordings whose text changed (needs espeak-ng and sox); commit prompts/ afterwards."""
    # Imported here: the build tool (espeak-ng, sox) belongs to `ivr prompts build` only.
    from prompts.build import build as run_build

    try:
        report = run_build(langs or prompts.LANGUAGES, force=force, progress=click.echo)
    except (RuntimeError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if report.built or report.removed:
        click.echo("Recordings changed: review and commit prompts/audio and prompts/manifest.json.")


@group.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(file: Path) -> None:
    """Tell whether FILE is usable as a prompt (WAV, 8 kHz mono, mu-law or 16-bit PCM, 0.3-60 s)."""
    try:
        info = check_prompt(file.read_bytes())
    except ValueError as exc:
        raise click.ClickException(f"{file} cannot be used: {exc}") from None
    click.echo(f"{file}: usable ({info.describe()})")


@group.command()
@click.argument("prompt_id")
@click.argument("lang")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def install(prompt_id: str, lang: str, file: Path) -> None:
    """Check FILE and install it as LANG's PROMPT_ID, in place of the shipped recording."""
    folder = _override_dir()
    try:
        dest, info, digest = catalog_mod.install(folder, lang, prompt_id, file.read_bytes())
    except ValueError as exc:
        raise click.ClickException(f"{file} was not installed: {exc}") from None
    click.echo(f"installed {lang}/{prompt_id} ({info.describe()}, hash {digest}) at {dest}; "
               "running services play it within a few seconds")


@group.command()
@click.argument("prompt_id")
@click.argument("lang")
def remove(prompt_id: str, lang: str) -> None:
    """Remove a manager's recording of LANG's PROMPT_ID: the shipped one plays again."""
    try:
        removed = catalog_mod.remove(_override_dir(), lang, prompt_id)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not removed:
        raise click.ClickException(f"{lang}/{prompt_id} has no manager recording; the shipped one plays already")
    click.echo(f"removed the manager recording of {lang}/{prompt_id}; the shipped one plays again")


@group.command("list")
def list_cmd() -> None:
    """Which recording plays for every prompt and language: shipped, a manager's own, or spoken (<Say>)."""
    cat = catalog_mod.Catalog(prompts.AUDIO_DIR, _override_dir(), recheck_seconds=0)
    for lang in prompts.LANGUAGES:
        for key in prompts.all_recording_keys():
            found = cat.recording(lang, key)
            source = f"{found.source:<8} {found.digest}" if found else "say      (no recording)"
            click.echo(f"{lang:<3} {key:<26} {source}")
