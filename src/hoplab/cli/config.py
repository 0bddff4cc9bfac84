"""``hoplab config init|show|path``."""

from __future__ import annotations

import click
from rich.text import Text

from hoplab.cli.completion import profile_names
from hoplab.cli.render import out


@click.group()
def config() -> None:
    """Create or show the profiles file (TOML; HOPLAB_CONFIG overrides its path)."""


@config.command()
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(force: bool) -> None:
    """Write a commented profiles file to start from."""
    from hoplab import config as profiles
    from hoplab.errors import HoplabError
    from hoplab.paths import config_file

    path = config_file()
    if path.exists() and not force:
        raise HoplabError(f"{path} already exists", "edit it, or use --force to start over")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(profiles.template(), encoding="utf-8")
    out.print(f"wrote {path}", markup=False, soft_wrap=True)


@config.command()
@click.argument("profile", required=False, shell_complete=profile_names)
def show(profile: str | None) -> None:
    """Show the profiles, or one profile's resolved values with where each came from."""
    from hoplab import config as profiles
    from hoplab.paths import config_file

    loaded = profiles.load(config_file())
    if profile is None:
        shown = f"file: {loaded.path}" + ("" if loaded.text else " (not created yet)")
        out.print(shown, markup=False, soft_wrap=True)
        for name in sorted(loaded.profiles):
            host = loaded.profiles[name].get("host", name)
            out.print(f"  {name}  → {host}", markup=False, soft_wrap=True)
        return
    resolved = profiles.resolve(profile, {}, loaded, profile=profile)
    for name, setting in resolved.settings.items():
        # values and sources are the user's text: "[/x]" or "[defaults]" are not markup
        line = Text(f"{name} = {setting.value!r}  ")
        line.append(f"({setting.source})", style="dim")
        out.print(line, soft_wrap=True)


@config.command()
def path() -> None:
    """Print where the profiles file is (one line, for scripts: HOPLAB_CONFIG overrides)."""
    from hoplab.paths import config_file

    click.echo(str(config_file()))
