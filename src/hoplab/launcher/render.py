"""Render the remote scripts: quoted settings on top, a static body from ``sh/`` below.

Every value that reaches the remote shell goes through :func:`shlex.quote`, one assignment per
line. The only unquoted text is what the user wrote as a shell line on purpose (``--setup``).
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

from hoplab.launcher.frame import Script, framed
from hoplab.protocol import Detail, Expect, Listen, SchedulerName, Where


@cache
def _body(name: str) -> str:
    script = files("hoplab.launcher").joinpath("sh").joinpath(f"{name}.sh")
    return script.read_text(encoding="utf-8")


def assignments(**values: str) -> str:
    """``NAME='value'`` lines, each value quoted for the remote shell."""
    return "\n".join(f"{name}={shlex.quote(value)}" for name, value in values.items())


def remote_path(path: str) -> str:
    """Quote a remote path, keeping a leading ``~/`` meaning the remote home."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def conda_env(name: str) -> str:
    """Quote a conda env: a name as it is, a path (it has a ``/``) as a remote path."""
    return remote_path(name) if "/" in name or name.startswith("~") else shlex.quote(name)


@dataclass(frozen=True)
class Environment:
    """How to prepare the shell before Jupyter: modules, conda or venv, then setup lines."""

    modules: tuple[str, ...] = ()
    conda: str | None = None
    venv: str | None = None
    setup: tuple[str, ...] = field(default_factory=tuple)
    workdir: str | None = None
    # (option, path as given): a ``~/...`` path read from the laptop's home; the launcher uses
    # the path as given instead when only that one exists on the remote host
    fallbacks: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """What was activated, for the "jupyter not found" message."""
        parts = [f"module {name}" for name in self.modules]
        if self.conda:
            parts.append(f"conda env {self.conda}")
        if self.venv:
            parts.append(f"venv {self.venv}")
        if self.setup:
            parts.append(f"{len(self.setup)} setup line(s)")
        return ", ".join(parts) or "nothing (no --conda, --venv or --module given)"

    def activation(self) -> str:
        """Shell lines that activate the environment, failing with a clear reason."""
        lines: list[str] = []
        if self.modules:  # `module` is defined by login shells only (siteenv.sh)
            lines.append(
                "module_init || fail env 'module: no environment modules found (neither "
                "Lmod nor Environment Modules: their init/sh, nor a login shell that has them)'"
            )
        for name in self.modules:
            quoted = shlex.quote(name)
            lines.append(
                f"module load {quoted} || fail env {shlex.quote(f'module load {name} failed')}"
            )
        if self.conda:  # HOPLAB_CONDA and HOPLAB_VENV: see :meth:`settings`
            lines += [
                (
                    "conda_init || fail env 'conda not found: not as CONDA_EXE names it, on "
                    "the PATH, in ~/miniforge3, ~/mambaforge, ~/miniconda3, ~/anaconda3 or "
                    "/opt/conda (or its shell.posix hook failed)'"
                ),
                'conda activate "$HOPLAB_CONDA" || fail env "conda activate $HOPLAB_CONDA failed"',
            ]
        if self.venv:  # `command .`: a `.` that cannot read its file ends sh (dash) at once
            lines += [
                "# shellcheck source=/dev/null",
                (
                    'command . "$HOPLAB_VENV/bin/activate" ||'
                    ' fail env "cannot activate venv $HOPLAB_VENV"'
                ),
            ]
        lines += list(self.setup)
        return "\n".join(lines)

    def settings(self) -> str:
        """The quoted paths the launcher reads (``HOPLAB_WORKDIR``, ``_VENV``, ``_CONDA``)."""
        lines = []
        if self.workdir:
            lines.append(f"HOPLAB_WORKDIR={remote_path(self.workdir)}")
        if self.venv:  # the launcher also checks that Jupyter comes from inside the env
            lines.append(f"HOPLAB_VENV={remote_path(self.venv.rstrip('/'))}")
        if self.conda:
            lines.append(f"HOPLAB_CONDA={conda_env(self.conda)}")
        for option, given in self.fallbacks:
            name, path = f"HOPLAB_{option.upper()}", shlex.quote(given.rstrip("/") or "/")
            lines.append(f'if [ ! -e "${name}" ] && [ -e {path} ]; then {name}={path}; fi')
        return "\n".join(lines)


@dataclass(frozen=True)
class LaunchSpec:
    """Everything the launcher needs, none of it secret."""

    session_id: str
    app: str = "lab"
    environment: Environment = field(default_factory=Environment)
    listen: Listen = Listen.SOCKET
    ip: str = "127.0.0.1"
    jupyter_args: tuple[str, ...] = ()
    batch: bool = False  # run by a scheduler on a node, not detached on the host itself
    lease_seconds: int = 0  # > 0: Jupyter ends when no client renewed the lease this long


def launcher(spec: LaunchSpec, header: str = "") -> str:
    """The launcher script. ``header`` goes first (a scheduler's directives)."""
    settings = assignments(
        HOPLAB_ID=spec.session_id,
        HOPLAB_APP=spec.app,
        HOPLAB_LISTEN=spec.listen.value,
        HOPLAB_IP=spec.ip,
        HOPLAB_BATCH="yes" if spec.batch else "no",
        HOPLAB_LEASE=str(spec.lease_seconds),
        HOPLAB_TRIED=spec.environment.describe(),
    )
    paths = spec.environment.settings()
    if paths:
        settings += f"\n{paths}"
    if spec.jupyter_args:
        settings += f"\nset -- {shlex.join(spec.jupyter_args)}"
    else:
        settings += "\nset --"
    body = (
        _body("common")
        + _body("siteenv")
        + (
            _body("launcher")
            .replace("#@ACTIVATE@", spec.environment.activation())
            .replace("#@FINDJUPYTER@", _body("findjupyter"))
            .replace("#@VERSIONS@", _body("versions"))
        )
    )
    return "\n".join(part for part in ("#!/bin/sh", header, settings, body) if part)


def scheduler_environment(commands: str, module: str | None) -> str:
    """Shell text that makes a scheduler's ``commands`` (space-separated) callable: from this
    shell's PATH, else the login shell's, or after ``module load module`` (siteenv.sh)."""
    call = f"scheduler_env {shlex.quote(commands)} {shlex.quote(module or '')}"
    return f"{_body('siteenv')}\n{call}"


def socket_check(jupyter: str, app: str) -> str:
    """The launcher's version checks on their own, printing ``sock_ok app_class port_zero``."""
    settings = assignments(bin=jupyter, HOPLAB_APP=app)
    return "\n".join((settings, _body("versions"), 'echo "$sock_ok $app_class $port_zero"'))


def _script(body: str, *calls: str, **values: str) -> Script:
    """``body`` framed, after the quoted ``values`` and the shared functions; then ``calls``."""
    return framed("\n".join((assignments(**values), _body("common"), body, *calls)))


def prepare(
    spec: LaunchSpec,
    token: str,
    *,
    submit: str | None,
    header: str = "",
    scheduler: SchedulerName = SchedulerName.NONE,
    version: str = "-",
    environment: str = "",
) -> Script:
    """Create the session directory, write the token (0600) and the launcher; then ``submit``.

    ``submit`` is the scheduler's shell line that starts ``launch.sh`` from the session
    directory (None: prepare only), run after ``environment`` (see
    :func:`scheduler_environment`). The token travels inside this script on ssh's stdin, as a
    here-document: it never appears in any argv, in the job script, or in the job's output.
    """
    end = f"HOPLAB_{secrets.token_hex(8)}"
    parts = [
        assignments(
            HOPLAB_ID=spec.session_id,
            HOPLAB_SCHEDULER=scheduler.value,
            HOPLAB_VERSION=version,
            HOPLAB_APP=spec.app,
        ),
        _body("common"),
        _body("prepare"),
        f"tr -d '\\n' > \"$dir/token\" <<'{end}'\n{token}\n{end}",
        f"cat > \"$dir/launch.sh\" <<'{end}'\n{launcher(spec, header)}\n{end}",
        'chmod 700 "$dir/launch.sh"',
    ]
    if submit is not None:
        if environment:
            parts.append(environment)
        parts.append(_body("submit").replace("#@SUBMIT@", submit))
    return framed("\n".join(parts))


def wait(
    session_id: str,
    seconds: float,
    *,
    local: bool = True,
    ask: bool = False,
    expect: Expect = Expect.ANY,
) -> Script:
    """Wait remotely, up to ``seconds``, for the handshake, a failure, or (``ask``) the node.

    ``local`` is False for a batch job, whose launcher runs on another host; ``expect``
    ignores a server that the launcher is replacing (with TCP, or with a socket in the session
    directory).
    """
    return _script(
        _body("wait"),
        HOPLAB_ID=session_id,
        HOPLAB_WAIT_CS=str(max(1, int(seconds * 100))),
        HOPLAB_LOCAL="yes" if local else "no",
        HOPLAB_ASK="yes" if ask else "no",
        HOPLAB_EXPECT=expect.value,
    )


# (id, pid, socket, where): where the script runs, as seen from the session.
Row = tuple[str, int | None, str | None, Where]


def _calls(function: str, sessions: list[Row]) -> list[str]:
    return [
        shlex.join([function, sid, str(pid or ""), sock or "", where.value])
        for sid, pid, sock, where in sessions
    ]


def check(sessions: list[Row]) -> Script:
    """Report on each session: process alive, socket present, directory present."""
    return _script(_body("check"), *_calls("check", sessions))


def scan(skip: list[str], only: list[str] | None = None, detail: Detail = Detail.NONE) -> Script:
    """List the session directories on the host, but those in ``skip`` (see ``scan.sh``);
    with ``only``, just those (even when empty: then none). ``detail``: what more to say."""
    wanted = "" if only is None else " ".join(["-", *only])  # "-": never a session id
    return _script(
        _body("scan"), HOPLAB_SKIP=" ".join(skip), HOPLAB_ONLY=wanted, HOPLAB_DETAIL=detail.value
    )


def purge(known: list[str]) -> Script:
    """Remove ~/.hoplab, unless a session directory other than ``known`` is there now."""
    return _script(_body("purge"), HOPLAB_KNOWN=" ".join(known))


def stop(sessions: list[Row], *, by: str = "", at: int = 0) -> Script:
    """Stop each session and remove what it left, reporting what remains. ``by`` (a ``down``:
    who, as ``user@computer``, at ``at``, Unix time) leaves a tombstone for each session whose
    directory it removed, for the other computers that know it (see ``ended.sh``)."""
    return _script(
        _body("stop"),
        *_calls("term", sessions),  # every one shuts down at once, then each is verified
        *_calls("stop", sessions),
        HOPLAB_BY=by,
        HOPLAB_AT=str(at),
    )


def ended(session_ids: list[str], *, forget: bool = False) -> Script:
    """Report the tombstones of these sessions (``forget``: remove them instead); tombstones
    older than 7 days go first (``ended.sh``)."""
    return _script(
        _body("ended"), HOPLAB_IDS=" ".join(session_ids), HOPLAB_FORGET="yes" if forget else "no"
    )


def reach(session_id: str, listen: Listen, ip: str = "") -> Script:
    """Tell a waiting launcher how to listen: ``socket``, or ``tcp`` on ``ip``."""
    line = f"{listen.value} {ip}".strip()
    return _script(
        'dir="$sessions/$HOPLAB_ID"\n'
        'printf \'%s\\n\' "$HOPLAB_REACH" > "$dir/reach.tmp"\n'
        'mv -f "$dir/reach.tmp" "$dir/reach"',
        HOPLAB_ID=session_id,
        HOPLAB_REACH=line,
    )


def renew_lease(session_id: str) -> Script:
    """Renew the session's lease: new content in ``lease`` (the launcher watches it change)."""
    return _script(
        'dir="$sessions/$HOPLAB_ID"\n'
        '[ -d "$dir" ] || exit 3\n'
        'printf \'%s\\n\' "$HOPLAB_NONCE" > "$dir/lease.tmp"\n'
        'mv -f "$dir/lease.tmp" "$dir/lease"',
        HOPLAB_ID=session_id,
        HOPLAB_NONCE=secrets.token_hex(8),
    )


def log(session_id: str, *, lines: int, follow: bool) -> Script:
    """Print (or follow) the session's Jupyter log."""
    return _script(
        _body("log"),
        HOPLAB_ID=session_id,
        HOPLAB_LINES=str(lines),
        HOPLAB_FOLLOW="yes" if follow else "no",
    )


def host_keys(names: list[str], port: int) -> Script:
    """Ask a host which keys it knows for another host (``names``, ``port``): ``hostkey.sh``."""
    return _script(_body("hostkey"), HOPLAB_NAMES=" ".join(names), HOPLAB_PORT=str(port))


def view(session_id: str, seconds: float, *, trial: bool = False) -> Script:
    """Whether an ssh session here sees the job's socket directory (``view.sh``); ``trial``:
    the job is ``hoplab doctor``'s test job, not a session's."""
    return _script(
        _body("view"),
        HOPLAB_ID=session_id,
        HOPLAB_WAIT_CS=_centiseconds(seconds),
        HOPLAB_TRIAL="yes" if trial else "no",
    )


def _centiseconds(seconds: float) -> str:
    return str(max(1, int(seconds * 100)))


def doctor(environment: Environment, app: str) -> Script:
    """What ``hoplab doctor`` asks the target (``doctor.sh``): the login shell, the environment
    activated as the launcher does it, its Jupyter and the socket directory. It reads only."""
    settings = assignments(HOPLAB_APP=app, HOPLAB_TRIED=environment.describe())
    paths = environment.settings()
    body = (
        _body("doctor")
        .replace("#@ACTIVATE@", environment.activation() or ":")
        .replace("#@FINDJUPYTER@", _body("findjupyter"))
        .replace("#@VERSIONS@", _body("versions"))
    )
    parts = (settings, paths, _body("common"), _body("siteenv"), _body("sockdir"), body)
    return framed("\n".join(part for part in parts if part))


def trial_job(trial_id: str, header: str, hold_seconds: float) -> str:
    """The test job of ``hoplab doctor --job`` (``trial.sh``); ``header`` first (directives).
    It holds no secret and starts nothing; it ends when told, or after ``hold_seconds``."""
    settings = assignments(HOPLAB_ID=trial_id, HOPLAB_WAIT_CS=_centiseconds(hold_seconds))
    parts = ("#!/bin/sh", header, settings, _body("common"), _body("sockdir"), _body("trial"))
    return "\n".join(part for part in parts if part)


def trial_submit(trial_id: str, job_script: str, submit: str, environment: str = "") -> Script:
    """Make the test job's directory (0700, beside the sessions' and never one of them), write
    ``job_script`` there as ``launch.sh``, and run ``submit`` (``submit.sh``) after
    ``environment`` (see :func:`scheduler_environment`), as :func:`prepare` does."""
    end = f"HOPLAB_{secrets.token_hex(8)}"
    return _script(
        "\n".join(
            (
                "set -eu",
                "umask 077",
                'mkdir -p "$trials"',
                'chmod 700 "$HOME/.hoplab" "$trials"',
                'dir="$trials/$HOPLAB_ID"',
                'mkdir "$dir"',
                f"cat > \"$dir/launch.sh\" <<'{end}'\n{job_script}\n{end}",
                'chmod 700 "$dir/launch.sh"',
                "set +eu",
                environment,
                _body("submit").replace("#@SUBMIT@", submit),
            )
        ),
        HOPLAB_ID=trial_id,
    )


def trial_wait(trial_id: str, seconds: float) -> Script:
    """Wait up to ``seconds`` for the test job to start (``trialwait.sh``)."""
    return _script(_body("trialwait"), HOPLAB_ID=trial_id, HOPLAB_WAIT_CS=_centiseconds(seconds))


def trial_end(trial_id: str, *, remove: bool) -> Script:
    """Let the test job end; with ``remove``, also remove its directory (``trialend.sh``)."""
    return _script(_body("trialend"), HOPLAB_ID=trial_id, HOPLAB_REMOVE="yes" if remove else "no")
