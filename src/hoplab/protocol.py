"""Every word exchanged between hoplab and its remote scripts, and how replies are framed.

The remote side is POSIX sh (``launcher/sh/``); the scripts name these same words in their
comments. A reply is only read between its frame's markers::

    @hoplab 1 NONCE begin
    HOPLAB <reply word> ...        (lines the scripts ``say``, and payload lines after them)
    @hoplab 1 NONCE section NAME   (a command's stdout, stderr and exit code, when framed)
    @hoplab 1 NONCE end RC

``1`` is :data:`VERSION`; ``NONCE`` is random per script, so nothing a login shell prints
(banners, quota notes, module chatter, before, between or after) is ever read as data. A word
this module does not know is an error that quotes the text: it is never silently ignored.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from hoplab.errors import ProtocolError

VERSION = 1  # the frames' and the session directory's protocol; bump on any incompatible change
FRAME = "@hoplab"  # the first word of a frame marker line
SAY = "HOPLAB"  # the first word of a reply line inside a frame

W = TypeVar("W", bound="Word")


class Word(str, Enum):
    """A protocol word; :meth:`parse` turns remote text into one or raises ProtocolError."""

    def __str__(self) -> str:  # the word itself, in f-strings and shell values alike
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def parse(cls: type[W], text: str, line: str = "") -> W:
        try:
            return cls(text)
        except ValueError:
            context = f" in {line!r}" if line and line != text else ""
            raise ProtocolError(
                f"the remote script said {text!r}{context}, which this hoplab does not know "
                f"as a {cls.__doc__ or cls.__name__}"
            ) from None


class Reply(Word):
    """reply kind (the first word after HOPLAB)"""

    DIR = "dir"  # prepare.sh: the session directory
    HOST = "host"  # prepare.sh: the host it was made on
    SOCKET = "socket"  # prepare.sh, no scheduler: the Unix socket Jupyter is to listen on
    SUBMITTED = "submitted"  # submit.sh: the submit command's answer follows
    REJECTED = "rejected"  # submit.sh: the scheduler's refusal follows
    READY = "ready"  # wait.sh: PID, then Jupyter's jpserver JSON
    FAILED = "failed"  # wait.sh: FailKind, then the launcher's error text
    EXITED = "exited"  # wait.sh: PID, then the log's last lines
    GONE = "gone"  # wait.sh, trialwait.sh: the session's (test job's) directory disappeared
    NODE = "node"  # wait.sh: the node a job runs on
    WAITING = "waiting"  # wait.sh: LauncherStatus; nothing decided within the round
    CHECK = "check"  # check.sh: ID Process SocketState DirState
    STOP = "stop"  # stop.sh: ID StopFinding
    ENTRY = "entry"  # scan.sh: ID PROCESS NODE SCHEDULER VERSION APP PROTOCOL HOST SUBMITTED...
    REACH = "reach"  # scan.sh (Detail.REACH): ID Listen [IP], the job's reach file
    LEASE = "lease"  # scan.sh (Detail.REACH): ID SECONDS, the launcher's --lease
    # scan.sh (Detail.REACH): ID PID, then Jupyter's JSON on the same line;
    # doctor.sh: MAJOR MINOR of jupyter_server (or notebook), or "-"
    SERVER = "server"
    TOKEN = "token"  # noqa: S105 - scan.sh (Detail.TOKEN): ID TOKEN, from its 0600 token file
    ENDED = "ended"  # ended.sh: ID WHEN WHO, a tombstone left by a `down` (maybe elsewhere)
    KEY = "key"  # hostkey.sh: a known_hosts line the host trusts for the asked host
    CA = "ca"  # hostkey.sh: an @cert-authority line the host trusts
    SCANNED = "scanned"  # hostkey.sh: a key ssh-keyscan saw (nothing vouched for it)
    VIEW = "view"  # view.sh: View (does an ssh session on the node see the job's /tmp)
    SHELL = "shell"  # doctor.sh: the login shell ($SHELL)
    ACTIVATION = "activation"  # doctor.sh: FailKind MESSAGE... when activating failed
    JUPYTER = "jupyter"  # doctor.sh: the jupyter-APP path, or "-"
    SOCKETS = "sockets"  # doctor.sh: yes | no (this Jupyter can listen on a Unix socket)
    SOCKET_DIR = "socket-dir"  # doctor.sh, trial.sh: SocketDir PATH
    PURGE = "purge"  # purge.sh: PurgeFinding (and the session ID for NEW)


class Detail(Word):
    """scan detail (how much ``scan.sh`` says about each session directory)"""

    NONE = "none"  # the entry line only: enough to find orphans
    REACH = "reach"  # and how its Jupyter is reached: reach, lease and server lines
    TOKEN = "token"  # noqa: S105 - and its token: to adopt it (attach --on, ls --scan)


class LauncherStatus(Word):
    """launcher status (the first word of the session's ``status`` file)"""

    NONE = "none"  # no status file yet: the job has not started
    ACTIVATING = "activating"
    STARTING = "starting"  # socket PATH | tcp IP
    WAITING_REACH = "waiting-reach"  # a job waits to be told how to listen
    EXITED = "exited"  # CODE
    FAILED = "failed"  # FailKind


class FailKind(Word):
    """launcher failure kind (``failed KIND`` in ``status``)"""

    ENV = "env"
    WORKDIR = "workdir"
    NO_JUPYTER = "no-jupyter"
    SOCKET_DIR = "socket-dir"
    LISTEN = "listen"
    REACH = "reach"
    LEASE = "lease"
    OTHER_JUPYTER = "other-jupyter"  # the named env has none; another is on PATH


class Process(Word):
    """process state"""

    ALIVE = "alive"
    DEAD = "dead"
    JOB = "job"  # a batch job seen from the login node: the scheduler knows
    UNSEEN = "-"  # scan.sh: a job, or a session of another host of a shared home


class SocketState(Word):
    """socket state"""

    PRESENT = "present"
    MISSING = "missing"
    NONE = "none"  # no socket to look for (TCP, or seen from the login node)


class DirState(Word):
    """session directory state"""

    PRESENT = "present"
    MISSING = "missing"


class StopFinding(Word):
    """stop finding"""

    DONE = "done"  # the last line for a session: everything before it was said
    KILLED = "killed"  # Jupyter ignored TERM and was killed
    NOT_JUPYTER = "not-jupyter"  # the recorded PID is another program now: left alone
    STILL_RUNNING = "still-running"
    SOCKET_LEFT = "socket-left"
    DIR_LEFT = "dir-left"

    @property
    def problem(self) -> bool:
        """Something is left behind: ``down`` cannot call the session clean."""
        return self in {StopFinding.STILL_RUNNING, StopFinding.SOCKET_LEFT, StopFinding.DIR_LEFT}


class SocketDir(Word):
    """state of the directory that would hold Jupyter's socket (``sockdir.sh``)"""

    PRIVATE = "private"  # there, a directory of this user, mode 0700
    LOOSE = "loose"  # there and ours, but others may enter it: the launcher makes it 0700
    CREATABLE = "creatable"  # not there yet; its parent lets this user make it
    FOREIGN = "foreign"  # another user's, or a symlink: the launcher refuses it
    NOT_DIRECTORY = "not-directory"  # something else is in the way
    UNWRITABLE = "unwritable"  # not there, and its parent does not let this user make it
    TOO_LONG = "too-long"  # a socket path in it would not fit a Unix socket address

    @property
    def usable(self) -> bool:
        return self in {SocketDir.PRIVATE, SocketDir.LOOSE, SocketDir.CREATABLE}


class PurgeFinding(Word):
    """purge finding (what became of ~/.hoplab on a host)"""

    REMOVED = "removed"
    ABSENT = "absent"  # there was none
    LEFT = "left"  # still there, or not a plain directory of the user (never followed)
    NEW = "new"  # ID: a session directory appeared after the check: nothing was removed


class Where(Word):
    """place a stop or check script runs, seen from the session"""

    HOST = "host"  # a plain host: Jupyter runs here
    NODE = "node"  # a batch job's node
    LOGIN = "login"  # a batch job's login node: its PID belongs to another host


class Listen(Word):
    """listen mode"""

    SOCKET = "socket"
    TCP = "tcp"
    # A batch job, on a node not known yet: hoplab says socket or tcp once it is. TRY_SOCKET
    # starts on the socket at once and moves to TCP if told so; ASK waits for the word.
    ASK = "ask"
    TRY_SOCKET = "try-socket"
    # The node's ssh sessions do not see the job's /tmp: the socket moves to the session
    # directory (shared home), which both sides see.
    HOME_SOCKET = "home-socket"


class View(Word):
    """view of the job's socket directory from an ssh session on its node"""

    SAME = "same"  # the session sees the job's /tmp: the socket there is reachable
    OTHER = "other"  # a job-private /tmp (or another job's): the socket must move


class Expect(Word):
    """which handshake a wait accepts while the launcher may be replacing its server"""

    ANY = "any"
    TCP = "tcp"  # moving to TCP: skip a socket server
    HOME = "home"  # moving to the session directory's socket: skip one elsewhere


class Reach(Word):
    """reach mode (how the tunnel gets to a compute node)"""

    AUTO = "auto"
    SSH_NODE = "ssh-node"  # ssh to the node through the login node: Jupyter on a Unix socket
    LOGIN_TCP = "login-tcp"  # TCP to the node's cluster address, forwarded by the login node


class SchedulerName(Word):
    """scheduler name"""

    NONE = "none"  # no scheduler: Jupyter runs detached on the target itself
    SLURM = "slurm"
    PBS = "pbs"
    TORQUE = "torque"
    SGE = "sge"
    LSF = "lsf"
    OAR = "oar"
    HTCONDOR = "htcondor"


class SchedulerPath(Word):
    """where the scheduler's commands were found (siteenv.sh: scheduler_env)"""

    PATH = "path"  # on the PATH of the `sh` hoplab runs
    LOGIN_SHELL = "login-shell"  # only on the PATH of the user's login shell (/etc/profile.d)
    MODULE = "module"  # after `module load NAME` (the scheduler_module profile key)
