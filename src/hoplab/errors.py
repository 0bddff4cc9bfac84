"""Every error hoplab raises, in one tree.

Each error says what happened (``message``) and what the user can do next (``hint``). The CLI
prints both and exits non-zero; the library never prints. Lower-level errors are translated with
``raise ... from exc`` so the cause stays in the traceback for ``--verbose``.

    HoplabError
    ├── ConfigError               a profile or TOML file is wrong (file, line, key)
    │   └── UnknownProfileError
    ├── CommandError              a local program failed (argv, exit code, stdout, stderr)
    │   ├── CommandNotFoundError  the program is not installed
    │   └── CommandTimeoutError   it did not finish in time
    ├── WaitTimeoutError          a bounded wait ran out
    ├── SshError                  ssh could not reach or authenticate to a host
    ├── PortInUseError            the requested local port is taken
    │   └── ForeignListenerError  another process listens on a session's port (no token sent)
    ├── RemoteError               the remote side refused to start Jupyter
    │   ├── ProtocolError         a remote reply is cut, unframed, or says an unknown word
    │   ├── JupyterNotFoundError
    │   ├── WorkdirError
    │   ├── JupyterStartError     Jupyter exited during start-up (with the log tail)
    │   └── OpenJupyterError      Jupyter answers without the token: authentication is off
    ├── SchedulerError            the batch scheduler cannot be used as asked
    │   ├── JobRejectedError      the scheduler refused the job (its own words)
    │   └── JobEndedError         the job ended, or can never start, before Jupyter was ready
    ├── SessionNotFoundError      no session with that id
    ├── SessionStateError         the session cannot do that in its current state
    ├── StateStoreError           the local session database is unreadable
    └── SandboxError              the local test cluster could not start
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


class HoplabError(Exception):
    """Base of every hoplab error: a message for the user and a hint on what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(HoplabError):
    """A configuration value is missing, malformed or of the wrong type."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str = "",
    ) -> None:
        where = ", ".join(
            part
            for part in (
                f"{file}" if file else "",
                f"line {line}" if line else "",
                f"key '{key}'" if key else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message, hint)
        self.detail = message  # without the file, line and key: to say it again elsewhere
        self.file = file
        self.line = line
        self.key = key


class UnknownProfileError(ConfigError):
    """A name was used as a profile but no profile has it."""


class CommandError(HoplabError):
    """A local program exited non-zero. Carries everything needed to diagnose it."""

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stdout: str,
        stderr: str,
        *,
        message: str = "",
        hint: str = "",
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {returncode}"
        super().__init__(message or f"{self.argv[0]} failed: {detail}", hint)


class CommandNotFoundError(CommandError):
    """The program is not on PATH."""

    def __init__(self, program: str, hint: str) -> None:
        super().__init__([program], None, "", "", message=f"{program} not found on PATH", hint=hint)


class CommandTimeoutError(CommandError):
    """The program did not finish within its timeout and was killed."""

    def __init__(self, argv: Sequence[str], timeout: float, stdout: str, stderr: str) -> None:
        super().__init__(
            argv,
            None,
            stdout,
            stderr,
            message=f"{argv[0]} did not finish within {timeout:g} s",
            hint="the host or the network may be slow or wedged; try again, or check the path "
            "with 'ssh -v' yourself",
        )
        self.timeout = timeout


class WaitTimeoutError(HoplabError):
    """A bounded wait gave up. ``what`` names the thing that never happened."""

    def __init__(self, what: str, timeout: float, hint: str = "") -> None:
        super().__init__(f"gave up after {timeout:g} s waiting for {what}", hint)
        self.what = what
        self.timeout = timeout


class SshError(HoplabError):
    """ssh could not connect, authenticate, or keep the connection."""

    def __init__(self, destination: str, stderr: str, hint: str = "") -> None:
        detail = stderr.strip() or "ssh exited without a message"
        super().__init__(f"ssh to {destination} failed: {detail}", hint)
        self.destination = destination
        self.stderr = stderr


class PortInUseError(HoplabError):
    """The local port asked for with --port is already bound."""

    def __init__(self, port: int) -> None:
        super().__init__(
            f"local port {port} is already in use",
            "choose another with --port, or leave --port out and hoplab picks a free one",
        )
        self.port = port


class ForeignListenerError(PortInUseError):
    """A session's local port is held by a process that is not the ssh hoplab started."""

    def __init__(self, port: int) -> None:
        HoplabError.__init__(
            self,
            f"127.0.0.1:{port} is held by a process hoplab did not start; "
            "the session token was not sent to it",
            "hoplab moves the session to another port; 'ss -ltnp' or 'lsof -iTCP:PORT' shows "
            "who holds this one",
        )
        self.port = port


class RemoteError(HoplabError):
    """The remote launcher could not start Jupyter."""


class ProtocolError(RemoteError):
    """A remote reply that cannot be read: no frame, a frame cut in half, an unknown word."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(
            message,
            hint
            or "run 'ssh TARGET true' to see what the login prints; if the reply was cut, "
            "the connection may have dropped: try again",
        )


class JupyterNotFoundError(RemoteError):
    """No ``jupyter`` command after activating the environment."""


class WorkdirError(RemoteError):
    """The working directory does not exist on the remote side."""


class JupyterStartError(RemoteError):
    """Jupyter started but exited, or never became ready. Carries the log tail."""

    def __init__(self, message: str, log_tail: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.log_tail = log_tail


class OpenJupyterError(RemoteError):
    """Jupyter answered a request that carried no token: anyone who reaches it gets a shell."""


class SchedulerError(HoplabError):
    """The scheduler is missing, unsupported, or cannot do what was asked."""


class JobRejectedError(SchedulerError):
    """The submit command refused the job; ``message`` carries the scheduler's own words."""


class JobEndedError(SchedulerError):
    """The job ended, or was found unable to ever start, before Jupyter was ready."""

    def __init__(self, message: str, log_tail: str = "", hint: str = "") -> None:
        super().__init__(message, hint)
        self.log_tail = log_tail


class SessionNotFoundError(HoplabError):
    """No session with that id (or prefix) is registered."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"no session '{session_id}'", "run 'hoplab ls --all' to see the known sessions"
        )
        self.session_id = session_id


class SessionStateError(HoplabError):
    """The session is not in a state that allows the action."""


class StateStoreError(HoplabError):
    """The local session database is corrupt or of an unknown version."""


class SandboxError(HoplabError):
    """The local test cluster could not be started or inspected."""
