"""The ``hoplab`` command line: click commands that render results; nothing else.

Subcommands are imported only when they run, so that ``hoplab --help`` stays fast.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from hoplab import __version__

COMMANDS = {
    "up": ("hoplab.cli.up", "up", "Start (or reuse) Jupyter on TARGET, tunnel to it, open it."),
    "ls": ("hoplab.cli.ls", "ls", "List sessions with their live state."),
    "attach": (
        "hoplab.cli.attach",
        "attach",
        "Tunnel to a running session again (--on TARGET: one started elsewhere).",
    ),
    "logs": ("hoplab.cli.logs", "logs", "Show the remote Jupyter log of a session."),
    "shell": ("hoplab.cli.shell", "shell", "A shell on the host where a session runs."),
    "ssh-config": (
        "hoplab.cli.ssh_config",
        "ssh_config",
        "Print an ssh Host block that lands on a session's host.",
    ),
    "sync": ("hoplab.cli.sync", "sync", "Copy files to or from a session's host (rsync)."),
    "down": ("hoplab.cli.down", "down", "Stop a session and clean up everything, verified."),
    "doctor": (
        "hoplab.cli.doctor",
        "doctor",
        "Check everything a session on TARGET needs, with the fix for what fails.",
    ),
    "config": ("hoplab.cli.config", "config", "Create or show the profiles file."),
    "completion": (
        "hoplab.cli.completion",
        "completion",
        "Print the shell completion script (bash, zsh, fish).",
    ),
    "sandbox": ("hoplab.cli.sandbox", "sandbox", "A real local cluster to try hoplab on."),
}
# Started by hoplab itself, not listed in --help.
HIDDEN = {
    "supervise": ("hoplab.cli.supervise", "supervise", ""),
    "close-idle": ("hoplab.cli.supervise", "close_idle", ""),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name) or HIDDEN.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}.{attr} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, _, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hoplab")
@click.option("--debug", is_flag=True, help="Log every command hoplab runs (argv only).")
def cli(debug: bool) -> None:
    """Jupyter on a remote host or an HPC compute node, one command from your laptop.

    \b
      hoplab up myserver           Jupyter on a host that ssh reaches, opened in your browser
      hoplab up cluster --time 2h  on a compute node, through the login node and scheduler
      hoplab ls                    your sessions and their live state
      hoplab attach ID             tunnel again after sleep or a reboot
      hoplab attach --on cluster   from another computer: the sessions running there
      hoplab down ID               stop it; nothing is left behind

    TARGET is a profile name (see 'hoplab config init') or anything ssh accepts.
    """
    if debug:
        logging.basicConfig(  # the time to the millisecond: where a slow command spends it
            level=logging.DEBUG,
            format="debug: %(asctime)s.%(msecs)03d %(name)s: %(message)s",
            datefmt="%H:%M:%S",
        )


NATIVE_WINDOWS = (
    "hoplab does not run on native Windows: it needs a POSIX system (Unix sockets, ssh "
    "ControlMaster, flock). Run it inside WSL (Windows Subsystem for Linux), where it works as "
    "on Linux: https://learn.microsoft.com/windows/wsl/install\n"
)


def refuse_native_windows() -> None:
    """Stop at once, with one message and exit code 2, on native Windows (not WSL)."""
    if os.name == "nt":
        sys.stderr.write(NATIVE_WINDOWS)
        sys.exit(2)


def main() -> None:
    """Console-script entry point."""
    refuse_native_windows()  # before anything else runs
    from hoplab.cli.render import run_cli

    run_cli(cli)
