"""``hoplab shell``, ``ssh-config``, ``sync`` and ``attach --script``: the argv and text they
build, the way they choose between ssh to the node and the scheduler, and what they refuse.

Nothing connects: transports are built but not connected (their argv needs no master), the
remote check runs in a local ``sh`` as a framed reply, and ``ssh -G`` reads the ssh config
blocks without connecting.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
from fake_laptop import environment, hoplab, ssh_calls

from hoplab.errors import ConfigError, RemoteError, SessionStateError, SshError
from hoplab.process import Completed
from hoplab.protocol import Reach
from hoplab.records.model import Session, SessionState
from hoplab.records.store import SessionStore
from hoplab.schedulers import backend, batch_backend
from hoplab.sessions import hostside, reconnect, shell, sshconfig, sync
from hoplab.ssh import hostkeys
from hoplab.ssh.mux import MuxTransport
from hoplab.ssh.transport import Forward, Transport
from hoplab.tunnel.reach import node_target

TOKEN = "ab" * 24
NODE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHoplabNodeKeyForUnitTests"


@pytest.fixture
def laptop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOPLAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HOPLAB_RUNTIME_DIR", str(tmp_path / "run"))
    config = tmp_path / "ssh_config"
    config.write_text("Host login01\n    HostName 10.201.1.2\n    User alice\n")
    return config


def _session(config: Path, **fields: object) -> Session:
    values: dict[str, object] = {
        "scheduler": "slurm",
        "job_id": "42",
        "node": "node001",
        "reach": Reach.SSH_NODE.value,
        "remote": "/tmp/hoplab-1000/3f9c2a1b.sock",
        "state": SessionState.DETACHED,
    }
    values.update(fields)
    return Session(
        "3f9c2a1b", "hpc", "login01", (), str(config), True, "lab", token=TOKEN, **values
    )


def _store(tmp_path: Path, session: Session) -> SessionStore:
    store = SessionStore(tmp_path / "state" / "sessions.db")
    store.save(session)
    return store


def _no_connect(monkeypatch: pytest.MonkeyPatch, *, node_refuses: bool = False) -> None:
    """The login and node transports, built but never connected."""

    def login(session: Session, *, interactive: bool) -> Transport:
        return MuxTransport(session.ssh_target)

    def host(session: Session, connected: Transport, *, interactive: bool) -> Transport:
        if node_refuses:
            raise SshError("node001", "Permission denied (publickey).")
        if session.reach == Reach.SSH_NODE and session.node:
            return MuxTransport(node_target(session, session.node))
        return connected

    monkeypatch.setattr(hostside, "login", login)
    monkeypatch.setattr(hostside, "host", host)


# -- shell: ssh to the node, or the scheduler's way in ----------------------------------------


def test_shell_goes_to_the_node_over_the_login_master(
    laptop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_connect(monkeypatch)
    session = _session(laptop)
    plan = shell.plan_shell(session.id, _store(tmp_path, session))
    assert not plan.through_scheduler
    assert plan.host == "node001"
    argv = plan.argv
    assert argv[-2:] == ["--", "node001"]  # no command: the login shell
    assert "RequestTTY=yes" in argv
    assert "RequestTTY=no" not in argv
    assert "RemoteCommand=none" in argv
    assert "HostName=node001" in argv
    login_master = MuxTransport(session.ssh_target).control_path
    proxy = next(w for w in argv if w.startswith("ProxyCommand="))
    assert f"ControlPath={login_master}" in proxy
    assert TOKEN not in " ".join(argv)


def test_shell_runs_one_command_without_a_terminal_unless_asked(
    laptop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_connect(monkeypatch)
    session = _session(laptop)
    store = _store(tmp_path, session)
    plan = shell.plan_shell(session.id, store, command=("hostname", "-s"))
    assert plan.argv[-4:] == ["--", "node001", "hostname", "-s"]
    assert "RequestTTY=no" in plan.argv
    forced = shell.plan_shell(session.id, store, command=("htop",), tty=True)
    assert "RequestTTY=yes" in forced.argv


def test_shell_falls_back_to_srun_when_the_session_runs_over_login_tcp(
    laptop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_connect(monkeypatch)
    session = _session(laptop, reach=Reach.LOGIN_TCP.value, remote="10.201.2.2:40123")
    plan = shell.plan_shell(session.id, _store(tmp_path, session))
    assert plan.through_scheduler
    assert plan.note is not None
    assert "ssh to node001 was refused" in plan.note
    assert "slurm" in plan.note
    assert "42" in plan.note
    # It runs on the login node: its master, its destination, a terminal for --pty.
    assert "--" in plan.argv
    assert plan.argv[plan.argv.index("--") + 1] == "login01"
    assert "RequestTTY=yes" in plan.argv
    remote = plan.argv[plan.argv.index("--") + 2 :]
    # The login shell (bash, tcsh, fish) reads `sh -c 'one quoted word'`; sh runs srun.
    assert remote[:2] == ["sh", "-c"]
    (script,) = shlex.split(remote[2])
    words = shlex.split(script)
    assert words[:6] == ["exec", "srun", "--overlap", "--jobid=42", "--nodes=1", "--ntasks=1"]
    assert words[6:9] == ["--pty", "/bin/sh", "-c"]
    assert words[9] == 'exec "${SHELL:-/bin/sh}" -l'


def test_shell_falls_back_when_the_node_refuses_ssh_now(
    laptop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_connect(monkeypatch, node_refuses=True)
    session = _session(laptop)
    plan = shell.plan_shell(session.id, _store(tmp_path, session), command=("hostname",))
    assert plan.note is not None
    assert plan.note.startswith("node001 refuses ssh (")
    assert "Permission denied" in plan.note
    (script,) = shlex.split(plan.argv[-1])
    assert shlex.split(script)[-3:] == ["/bin/sh", "-c", "hostname"]
    assert "--pty" not in script
    assert "RequestTTY=no" in plan.argv


@pytest.mark.parametrize("scheduler", ["pbs", "torque", "sge"])
def test_shell_says_when_the_scheduler_has_no_way_in(
    laptop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheduler: str
) -> None:
    _no_connect(monkeypatch)
    session = _session(laptop, scheduler=scheduler, reach=Reach.LOGIN_TCP.value)
    with pytest.raises(SessionStateError, match="documents no way into a running job"):
        shell.plan_shell(session.id, _store(tmp_path, session))


def test_shell_through_oar_takes_no_single_command(
    laptop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_connect(monkeypatch)
    session = _session(laptop, scheduler="oar", reach=Reach.LOGIN_TCP.value)
    store = _store(tmp_path, session)
    with pytest.raises(SessionStateError, match="only with an interactive shell"):
        shell.plan_shell(session.id, store, command=("hostname",))
    plan = shell.plan_shell(session.id, store)
    assert shlex.split(shlex.split(plan.argv[-1])[0]) == ["exec", "oarsub", "-C", "42"]


def test_a_job_in_the_queue_has_no_shell_yet(laptop: Path, tmp_path: Path) -> None:
    session = _session(laptop, node=None, state=SessionState.STARTING)
    with pytest.raises(SessionStateError, match="waits in the queue"):
        shell.plan_shell(session.id, _store(tmp_path, session))


def test_every_backend_names_its_documented_way_in() -> None:
    expected = {
        "slurm": ["srun", "--overlap", "--jobid=7", "--nodes=1", "--ntasks=1", "/bin/sh", "-c"],
        "htcondor": ["condor_ssh_to_job", "7"],
        "lsf": None,
        "oar": None,
        "pbs": None,
        "torque": None,
        "sge": None,
    }
    for name, prefix in expected.items():
        argv = batch_backend(name).attach_argv("7", "nvidia-smi")
        if prefix is None:
            assert argv is None, name
        else:
            assert argv is not None, name
            assert argv[: len(prefix)] == prefix, name
            assert argv[-1] == "nvidia-smi"
    assert batch_backend("lsf").attach_argv("7", None) == ["battach", "7"]
    assert batch_backend("oar").attach_argv("7", None) == ["oarsub", "-C", "7"]
    assert batch_backend("htcondor").attach_argv("7", None) == ["condor_ssh_to_job", "7"]
    assert batch_backend("pbs").attach_argv("7", None) is None
    assert backend("slurm").batch


# -- ssh-config: a Host block that ssh itself reads ---------------------------------------------


def test_the_host_block_lands_on_the_node_through_the_login_master(
    laptop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_connect(monkeypatch)
    session = _session(laptop)
    node = node_target(session, "node001")
    vouched = hostkeys.record(hostkeys.resolve(node), [NODE_KEY])
    block = sshconfig.ssh_config(session.id, _store(tmp_path, session), interactive=False)
    assert block.alias == "hoplab-3f9c2a1b"
    assert block.text.splitlines()[0].startswith("# hoplab session 3f9c2a1b")
    # ssh itself reads the block (-G resolves without connecting).
    config = tmp_path / "client_config"
    config.write_text(block.text)
    done = subprocess.run(
        ["ssh", "-G", "-F", str(config), block.alias], capture_output=True, text=True, check=True
    )
    settings: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, value)
    assert settings["hostname"] == "node001"
    proxy = settings["proxycommand"]
    login_master = MuxTransport(session.ssh_target).control_path
    assert f"ControlPath={login_master}" in proxy
    assert "ControlMaster=no" in proxy
    assert "-W %h:%p" in proxy
    assert "BatchMode" not in proxy  # a dead master: a fresh login, not a silent failure
    assert f"-F {laptop}" in proxy
    assert proxy.endswith("-- login01")
    assert str(vouched) in settings["knownhostscommand"]
    assert settings.get("stricthostkeychecking", "ask") != "false"
    assert TOKEN not in block.text


def test_no_host_block_for_a_node_that_refuses_ssh(laptop: Path, tmp_path: Path) -> None:
    session = _session(laptop, reach=Reach.LOGIN_TCP.value)
    with pytest.raises(SessionStateError, match="no ssh client can land there") as refused:
        sshconfig.ssh_config(session.id, _store(tmp_path, session), interactive=False)
    assert "hoplab shell 3f9c2a1b" in refused.value.hint


def test_a_plain_host_block_rides_the_master_directly(laptop: Path) -> None:
    session = _session(laptop, scheduler="none", job_id=None, node=None, reach=None)
    login = MuxTransport(session.ssh_target)
    settings = sshconfig.block_settings(session, session.ssh_target, login)
    assert settings.hostname == "10.201.1.2"
    assert settings.user == "alice"
    assert settings.control_path == str(login.control_path)
    text = sshconfig.render_block(settings)
    assert "    ControlMaster no" in text
    assert "ProxyCommand" not in text


# -- sync: rsync over hoplab's own ssh ---------------------------------------------------------


def _rsync_split(command: str) -> list[str]:
    """How rsync splits ``-e`` (main.c, do_cmd): blanks separate words; single or double
    quotes group, a doubled quote inside quotes is that quote; no backslashes."""
    words: list[str] = []
    i = 0
    while i < len(command):
        if command[i] == " ":
            i += 1
            continue
        word: list[str] = []
        quote = ""
        while i < len(command) and (command[i] != " " or quote):
            char = command[i]
            if char in "'\"":
                if not quote:
                    quote = char
                    i += 1
                    continue
                if char == quote:
                    if i + 1 < len(command) and command[i + 1] == quote:
                        word.append(quote)
                        i += 2
                        continue
                    quote = ""
                    i += 1
                    continue
            word.append(char)
            i += 1
        words.append("".join(word))
    return words


def test_rsync_rides_the_node_master_with_hoplabs_own_ssh(laptop: Path) -> None:
    session = _session(laptop)
    node = MuxTransport(node_target(session, "node001"))
    rsh, host = sync.remote_shell(node)
    assert host == "node001"
    words = _rsync_split(rsh)
    assert words == node.command()[:-2]  # rsync reads back exactly hoplab's argv
    assert f"ControlPath={node.control_path}" in words
    assert "ControlMaster=no" in words
    assert "BatchMode=yes" in words
    assert "RemoteCommand=none" in words
    assert "--" not in words
    argv = sync.rsync_argv(
        "/usr/bin/rsync",
        rsh,
        ["data dir/", "café"],
        "node001:project/data",
        progress="--info=progress2",
        dry_run=True,
        delete=True,
    )
    assert argv[:5] == [
        "/usr/bin/rsync",
        "--archive",
        "--protect-args",
        "--human-readable",
        "--info=progress2",
    ]
    assert "--dry-run" in argv
    assert "--delete" in argv
    assert argv[argv.index("-e") + 1] == rsh
    assert argv[-4:] == ["--", "data dir/", "café", "node001:project/data"]
    assert TOKEN not in " ".join(argv)


def test_quotes_and_blanks_survive_rsyncs_splitting(tmp_path: Path) -> None:
    odd = tmp_path / "it's a \"config\" with '' two"
    node = MuxTransport(node_target(_session(odd), "node001"))
    rsh, _ = sync.remote_shell(node)
    words = _rsync_split(rsh)
    assert words == node.command()[:-2]
    assert str(odd) in words


@pytest.mark.parametrize(
    ("given", "path", "fallback"),
    [
        ("", ".", None),
        ("~", ".", None),
        ("~/", ".", None),
        ("~/data/", "data/", None),
        ("data", "data", None),
        ("/scratch/x", "/scratch/x", None),
        ("/home/me/proj/a b", "proj/a b", "/home/me/proj/a b"),
        ("/home/me", "/home/me", None),
    ],
)
def test_remote_paths_resolve_as_up_resolves_them(
    given: str, path: str, fallback: str | None
) -> None:
    resolved = sync.resolve_remote(given, "/home/me")
    assert (resolved.path, resolved.fallback) == (path, fallback)
    assert (resolved.note is not None) == (fallback is not None)


def test_a_request_marks_one_side_remote() -> None:
    assert sync.SyncRequest(("a", "b"), ":dest").upload
    assert not sync.SyncRequest((":a", ":b"), "dest").upload
    sync.SyncRequest((":a",), "dest").check()
    for sources, destination in (((":a",), ":b"), (("a",), "b"), ((":a", "b"), "c")):
        with pytest.raises(ConfigError):
            sync.SyncRequest(sources, destination).check()
    assert sync.local_path("a:b/c") == "./a:b/c"
    assert sync.local_path("dir/a:b") == "dir/a:b"


def test_progress_for_the_whole_copy_needs_rsync_3_1() -> None:
    assert sync.progress_option((3, 2)) == "--info=progress2"
    assert sync.progress_option((2, 6)) == "--progress"
    assert sync.progress_option(None) == "--progress"


class LocalShell(Transport):
    """Runs the remote script in a local ``sh`` with its own PATH, after a login banner."""

    multiplexed = True

    def __init__(self, path: str, banner: str = "") -> None:
        super().__init__(node_target(_session(Path("/nonexistent")), "node001"))
        self.path, self.banner = path, banner

    def run(self, script: str, *, timeout: float = 60.0) -> Completed:
        done = subprocess.run(
            ["/bin/sh", "-s"],
            check=False,
            input=script,
            capture_output=True,
            text=True,
            env={"PATH": self.path, "HOME": os.environ.get("HOME", "/")},
            timeout=timeout,
        )
        return Completed(["sh"], done.returncode, self.banner + done.stdout, done.stderr)

    def connect(self, *, interactive: bool) -> None:
        raise NotImplementedError

    def command(self, *remote: str, tty: bool = False) -> list[str]:
        raise NotImplementedError

    def forward(self, local_port: int, remote: str) -> Forward:
        raise NotImplementedError

    def cancel(self, forward: Forward) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A PATH with the few programs the check needs, and no rsync."""
    bin_dir = tmp_path / "tools"
    bin_dir.mkdir()
    for name in ("mktemp", "cat", "rm", "test"):
        source = Path(f"/usr/bin/{name}")
        (bin_dir / name).symlink_to(source if source.exists() else Path(f"/bin/{name}"))
    return bin_dir


def test_sync_refuses_a_host_without_rsync(tools: Path) -> None:
    with pytest.raises(RemoteError, match="has no rsync on its PATH"):
        sync.check_remote(LocalShell(str(tools)), [])


def test_sync_refuses_startup_files_that_print_on_stdout(tools: Path) -> None:
    rsync = tools / "rsync"
    rsync.write_text("#!/bin/sh\nexit 0\n")
    rsync.chmod(0o755)
    assert sync.check_remote(LocalShell(str(tools)), []) == {}
    with pytest.raises(RemoteError, match="protocol version mismatch"):
        sync.check_remote(LocalShell(str(tools), banner="Welcome to the cluster\n"), [])


def test_sync_takes_the_path_as_given_only_where_it_exists(tools: Path, tmp_path: Path) -> None:
    rsync = tools / "rsync"
    rsync.write_text("#!/bin/sh\nexit 0\n")
    rsync.chmod(0o755)
    there = tmp_path / "there"
    there.mkdir()
    paths = [
        sync.RemotePath("x", fallback=str(there)),
        sync.RemotePath("y", fallback=str(tmp_path / "absent")),
    ]
    found = sync.check_remote(LocalShell(str(tools)), paths)
    assert found == {str(there): True, str(tmp_path / "absent"): False}


# -- attach --script: the use case writes it 0700 ----------------------------------------------


def test_the_script_is_written_0700_with_the_chain_and_the_node_key(
    laptop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_connect(monkeypatch)
    session = _session(laptop)
    hostkeys.record(hostkeys.resolve(node_target(session, "node001")), [NODE_KEY])
    path = tmp_path / "reconnect.sh"
    result = reconnect.write_script(session.id, _store(tmp_path, session), path, interactive=False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert result.hops == ("login01", "node001")
    assert result.carries_key
    text = path.read_text()
    assert TOKEN not in text
    assert "open_hop login01 10.201.1.2 alice 22" in text
    assert "open_hop node001 node001 " in text
    assert NODE_KEY in text
    assert "HOPLAB_HOME=1" in text
    assert "HOPLAB_REMOTE=/tmp/hoplab-1000/3f9c2a1b.sock" in text


# -- the commands as a user runs them: refusals come before any connection --------------------


def test_the_commands_refuse_before_connecting(tmp_path: Path) -> None:
    env = environment(tmp_path)
    config = tmp_path / "ssh_config"
    config.write_text("Host login01\n    HostName 10.201.1.2\n")
    tcp = _session(config, reach=Reach.LOGIN_TCP.value)
    store = SessionStore(Path(env["HOPLAB_STATE_DIR"]) / "sessions.db")
    store.save(tcp)
    queued = _session(config, state=SessionState.STARTING, node=None, remote=None)
    queued.id = "77aa0000"
    store.save(queued)
    store.close()

    done = hoplab(env, "ssh-config", tcp.id)
    assert done.returncode == 1
    assert "no ssh client can land there" in done.stderr
    assert f"hoplab shell {tcp.id}" in done.stderr

    done = hoplab(env, "sync", "somehost", "a", "b")
    assert done.returncode == 1
    assert "mark the remote side with ':'" in done.stderr

    done = hoplab(env, "sync", tcp.id, "only-one")
    assert done.returncode == 2  # a usage error

    script = tmp_path / "r.sh"
    done = hoplab(env, "attach", queued.id, "--script", str(script))
    assert done.returncode == 1
    assert "waits in the queue" in done.stderr
    assert not script.exists()

    done = hoplab(env, "shell", queued.id, "--", "hostname")
    assert done.returncode == 1
    assert ssh_calls(env) == []
