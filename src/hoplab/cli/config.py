"""``hoplab config init|show|path``."""

from __future__ import annotations

import click

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
    out.print(f"wrote {path}")


@config.command()
@click.argument("profile", required=False)
def show(profile: str | None) -> None:
    """Show the profiles, or one profile's resolved values with where each came from."""
    from hoplab import config as profiles
    from hoplab.paths import config_file

    loaded = profiles.load(config_file())
    if profile is None:
        out.print(f"file: {loaded.path}" + ("" if loaded.text else " (not created yet)"))
        for name in sorted(loaded.profiles):
            host = loaded.profiles[name].get("host", name)
            out.print(f"  {name}  → {host}")
        return
    resolved = profiles.resolve(profile, {}, loaded, profile=profile)
    for name, setting in resolved.settings.items():
        out.print(f"{name} = {setting.value!r}  [dim]({setting.source})[/]")


@config.command()
def path() -> None:
    """Print where the profiles file is."""
    from hoplab.paths import config_file

    out.print(str(config_file()))
