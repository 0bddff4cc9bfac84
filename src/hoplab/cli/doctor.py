"""``hoplab doctor TARGET``."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from hoplab.cli.common import ProgressLines, interactive, print_json, signals_raise
from hoplab.cli.flags import target_settings
from hoplab.cli.render import err, escape, out

if TYPE_CHECKING:
    from hoplab.sessions.doctor import Check, Report

MARKS = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]", "skip": "[dim]-[/]"}
DETAIL_LINES = 12  # more is cut, with a note (--json has it all)


class CheckLines:
    """Each check as one line when it is decided (✓ ok, ! warning, ✗ failure, - skipped),
    with its detail and fix; a spinner shows the slow steps meanwhile."""

    def __init__(self, *, quiet: bool, verbose: bool) -> None:
        self.progress = ProgressLines(quiet=quiet)
        self.quiet = quiet
        self.verbose = verbose

    def __call__(self, check: Check) -> None:
        self.progress.clear()
        if self.quiet:
            return
        status = check.status.value
        out.print(f"{MARKS[status]} {check.name.value:<16} {escape(check.summary)}", soft_wrap=True)
        if check.detail and (status in {"warn", "fail"} or self.verbose):
            lines = check.detail.splitlines()
            for line in lines[:DETAIL_LINES]:
                out.print(Text(f"    {line}", style="dim"), soft_wrap=True)
            if len(lines) > DETAIL_LINES:
                out.print(Text(f"    … {len(lines) - DETAIL_LINES} more lines", style="dim"))
        if check.fix:
            out.print(f"    [yellow]fix:[/] {escape(check.fix)}", soft_wrap=True)


def summary(report: Report) -> str:
    """The last line: counts, and what would stop ``up``."""
    counts = Counter(check.status.value for check in report.checks)
    said = (
        f"{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed, "
        f"{counts['skip']} skipped"
    )
    if report.ok:
        return f"[green]nothing would stop 'hoplab up {escape(report.target)}'[/] ({said})"
    failed = ", ".join(c.name.value for c in report.checks if c.status.value == "fail")
    return f"[red]'hoplab up {escape(report.target)}' would stop at: {failed}[/] ({said})"


@click.command()
@target_settings
@click.option(
    "--job",
    is_flag=True,
    help="On a cluster, also run a short test job: its node, its /tmp, ssh to it.",
)
@click.option(
    "--job-timeout",
    type=click.IntRange(min=10),
    default=300,
    show_default=True,
    metavar="S",
    help="Seconds the test job may wait in the queue before doctor gives up on it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option(
    "--verbose", "-v", is_flag=True, help="Say where each setting came from, and every detail."
)
@click.pass_context
def doctor(
    ctx: click.Context,
    target: str,
    profile: str | None,
    job: bool,
    job_timeout: int,
    as_json: bool,
    verbose: bool,
    command_line: dict[str, Any],
) -> None:
    """Check everything a session on TARGET needs, in the order it needs it.

    The local ssh client, the target as ssh resolves it, authentication, the shared
    connection, the login shell and whether its startup prints anything, the scheduler,
    Jupyter in the profile's environment (path, version, Unix socket support), the socket
    directory, and the laptop's free ports and state directory. With --job on a cluster, a
    short test job (the profile's partition and time, or 2 minutes) shows the node, whether
    its /tmp is private, and whether ssh to it works with the host key the login node vouches
    for; it is cancelled, and verified gone, at the end. Nothing else is started.

    It takes the options of 'hoplab up'. The exit code is 1 when something would stop 'up'
    (authentication, no Jupyter, no scheduler for cluster options, no socket directory);
    warnings (TCP instead of a socket, a noisy login, a scanned host key) do not.

    \b
    Examples:
      hoplab doctor myserver --venv '~/envs/jupyter'
      hoplab doctor login.hpc --partition gpu --job
      hoplab doctor gpu --json
    """
    from hoplab import config
    from hoplab.paths import config_file
    from hoplab.sessions.doctor import DoctorRequest
    from hoplab.sessions.doctor import doctor as diagnose
    from hoplab.sessions.request import up_request

    resolved = config.resolve(target, command_line, config.load(config_file()), profile=profile)
    if verbose and not as_json:
        for name, setting in resolved.settings.items():
            if setting.value not in (None, ()):
                err.print(Text(f"{name} = {setting.value!r}  ({setting.source})", style="dim"))
    request = DoctorRequest(
        up_request(resolved, new=False, detach=True, interactive=interactive()),
        job=job,
        job_timeout=float(job_timeout),
    )
    lines = CheckLines(quiet=as_json, verbose=verbose)
    with signals_raise(KeyboardInterrupt):
        report = diagnose(request, lines.progress, lines)
    if as_json:
        print_json("doctor", report.public())
    else:
        out.print(summary(report), soft_wrap=True)
    if not report.ok:
        ctx.exit(1)
