"""Shell completion: session ids, profile names, and ``hoplab completion bash|zsh|fish``.

Completers read only local files (the session database, the profiles file) and never raise:
a broken file means no suggestions, not a traceback in the middle of the user's typing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem

if TYPE_CHECKING:
    from collections.abc import Callable

PROG = "hoplab"
COMPLETE_VAR = "_HOPLAB_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


def session_ids(
    *, live_only: bool = False
) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    """Complete a SESSION argument from the local session database."""

    def complete(
        _ctx: click.Context, _param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from hoplab.errors import HoplabError
        from hoplab.records.store import SessionStore

        try:
            store = SessionStore()
            try:
                sessions = store.live() if live_only else store.unfinished() or store.all()
            finally:
                store.close()
        except (HoplabError, OSError):
            return []
        return [
            CompletionItem(s.id, help=f"{s.target} ({s.shown_state.value})")
            for s in sessions
            if s.id.startswith(incomplete)
        ]

    return complete


def profile_names(
    _ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Complete a TARGET or --profile from the profiles file."""
    from hoplab import config
    from hoplab.errors import HoplabError
    from hoplab.paths import config_file

    try:
        loaded = config.load(config_file())
    except (HoplabError, OSError):
        return []
    return [
        CompletionItem(name, help=str(values.get("host", name)))
        for name, values in sorted(loaded.profiles.items())
        if name.startswith(incomplete)
    ]


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash:  hoplab completion bash > ~/.local/share/bash-completion/completions/hoplab
    zsh:   hoplab completion zsh > "${fpath[1]}/_hoplab"   (or eval it in ~/.zshrc)
    fish:  hoplab completion fish > ~/.config/fish/completions/hoplab.fish
    """
    from click.shell_completion import get_completion_class

    from hoplab.cli import cli

    kind = get_completion_class(shell)
    if kind is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"no completion for {shell}")
    click.echo(kind(cli, {}, PROG, COMPLETE_VAR).source())
