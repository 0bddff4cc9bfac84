"""``hoplab sync SESSION|TARGET SOURCE... DEST``."""

from __future__ import annotations

import click

from hoplab.cli.completion import session_ids
from hoplab.cli.render import err, escape


@click.command()
@click.argument("where", metavar="SESSION|TARGET", shell_complete=session_ids(live_only=True))
@click.argument("paths", nargs=-1, required=True, metavar="SOURCE... DEST")
@click.option("--dry-run", "-n", is_flag=True, help="Show what would be copied; copy nothing.")
@click.option("--delete", is_flag=True, help="Delete files at DEST that SOURCE does not have.")
def sync(where: str, paths: tuple[str, ...], dry_run: bool, delete: bool) -> int:
    """Copy files to or from a session's host (or any TARGET) with rsync.

    \b
      hoplab sync 3f9c data/ :project/data     laptop -> ~/project/data on the job's node
      hoplab sync 3f9c :results ./results      the node's ~/results -> the laptop
      hoplab sync login.hpc -n --delete src/ :src   a dry run against any target

    The side that starts with ':' is remote; a relative remote path (or ~/...) is in the
    remote home. rsync runs over hoplab's own ssh connection (no second login), passes
    names with spaces and unicode as they are, and shows the progress of the whole copy.
    SESSION is an id from 'hoplab ls' (a prefix is enough); anything else is a TARGET as
    for 'hoplab up'. Both ends need rsync; hoplab says so when the remote lacks it.
    """
    from hoplab import config
    from hoplab.cli.common import interactive
    from hoplab.errors import SessionNotFoundError
    from hoplab.paths import config_file
    from hoplab.records.store import SessionStore
    from hoplab.sessions.request import ssh_target
    from hoplab.sessions.sync import SyncRequest, plan_for_session, plan_for_target, run_sync

    if len(paths) < 2:
        raise click.UsageError("give a SOURCE and a DEST, one of them remote (':path')")
    request = SyncRequest(paths[:-1], paths[-1], dry_run=dry_run, delete=delete)
    store = SessionStore()
    try:
        store.get(where)
    except SessionNotFoundError:
        resolved = config.resolve(where, {}, config.load(config_file()))
        target, multiplex = ssh_target(resolved), bool(resolved["mux"])
        plan = plan_for_target(target, request, multiplex=multiplex, interactive=interactive())
    else:
        plan = plan_for_session(where, store, request, interactive=interactive())
    for note in plan.notes:
        err.print(f"[yellow]{escape(note)}[/]", soft_wrap=True)
    direction = "to" if plan.upload else "from"
    err.print(f"copying {direction} {escape(plan.host)}" + (" (dry run)" if dry_run else ""))
    return run_sync(plan)
