"""Everything the sandbox puts on disk before a daemon starts: directories, users, keys, configs.

Keys (client, host, munge) are made once and kept, so a restarted sandbox has the same host
keys and the same client key; config files are rewritten at every start. Modes follow who must
read what: the test users read their authorized_keys, slurm.conf, the Grid Engine cell and the
munge socket's directory (0711, as munged requires); private keys and sshd configs stay
root-only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hoplab.testing import accounts, gridengine, otp, slurm, sshd
from hoplab.testing.layout import (
    CLUSTER_ADDRESSES,
    LOGIN,
    NAMESPACES,
    NODES,
    OTHER_USER,
    USER,
    Paths,
    render_hosts,
    ssh_address,
)

USERS = (USER, OTHER_USER)
SSHD_PRIVSEP_DIR = Path("/run/sshd")  # a root sshd insists on it
ETC_SSH = Path("/etc/ssh")


def prepare_dirs(paths: Paths) -> None:
    """Create the directory tree with its modes; wipe what a fresh cluster must not inherit."""
    for directory, mode in (
        (paths.root, 0o755),
        (paths.logs, 0o755),
        (paths.authorized_keys, 0o755),
        (paths.client, 0o755),
        (paths.munge, 0o755),
        (paths.munge_socket_dir, 0o711),
        (paths.slurm, 0o755),
        (SSHD_PRIVSEP_DIR, 0o755),
        *((paths.host_dir(host), 0o700) for host in NAMESPACES),
        *((paths.path_dir(host), 0o755) for host in NAMESPACES),
    ):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(mode)
    for host in NAMESPACES:  # a fresh, empty /tmp per host, sticky and world-writable
        shutil.rmtree(paths.host_tmp(host), ignore_errors=True)
        paths.host_tmp(host).mkdir(parents=True)
        paths.host_tmp(host).chmod(0o1777)
    # No jobs, node states or sockets from an earlier run.
    shutil.rmtree(paths.slurm_state, ignore_errors=True)
    paths.slurm_state.mkdir(mode=0o755)
    shutil.rmtree(paths.sge_root, ignore_errors=True)
    paths.sge_root.mkdir(mode=0o755)
    paths.munge_socket.unlink(missing_ok=True)


def write_all(paths: Paths) -> None:
    """Users, keys, sshd and client configs, known_hosts, hosts, munge key, slurm.conf, SGE cell."""
    for user in USERS:
        accounts.ensure_user(user)
        key = accounts.ensure_key(paths.client_key(user), f"{user}@hoplab-sandbox")
        accounts.write_authorized_keys(paths.authorized_keys, user, key)
    host_keys = {}
    for host in NAMESPACES:
        host_keys[host] = accounts.ensure_key(paths.host_key(host), f"root@{host}")
        write_sshd_config(paths, host, refuse=False)
    # The laptop knows login01 only; login01 knows its nodes (system-wide, by name and
    # cluster address); the harness's own way in knows everyone.
    login_key = " ".join(host_keys[LOGIN].split()[:2])
    _write(
        paths.known_hosts,
        sshd.render_known_hosts({LOGIN: host_keys[LOGIN]})
        + f"[{ssh_address(LOGIN)}]:{otp.OTP_PORT} {login_key}\n",  # the OTP login's port
    )
    _write(paths.harness_known_hosts, sshd.render_known_hosts(host_keys))
    write_etc_ssh(paths, LOGIN, {node: host_keys[node] for node in NODES})
    otp.write_pam(paths)
    for node in NODES:
        write_node_pam(paths, node, adopt=False)
    otp.write_config(paths, session_environment(paths))
    for user in USERS:
        identity = paths.client_key(user)
        laptop = sshd.render_client_config(
            user=user, identity=identity, known_hosts=paths.known_hosts
        )
        _write(paths.ssh_config(user), laptop)
        harness = sshd.render_client_config(
            user=user, identity=identity, known_hosts=paths.harness_known_hosts
        )
        _write(paths.harness_ssh_config(user), harness)
    slurm.ensure_munge_key(paths.munge_key)
    write_slurm_conf(paths, contain=False)
    _write(paths.hosts, render_hosts())
    gridengine.write_cell(paths)


def write_etc_ssh(paths: Paths, host: str, known: dict[str, str] | None) -> None:
    """``host``'s /etc/ssh: the machine's own client files, and an ssh_known_hosts that lists
    ``known`` by name and cluster address (none when ``known`` is None: the host vouches for
    nobody). The machine's host keys are not copied."""
    target = paths.etc_ssh(host)
    if known is not None or not target.exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True, mode=0o755)
        for name in ("ssh_config", "moduli"):
            if (ETC_SSH / name).is_file():
                shutil.copy2(ETC_SSH / name, target / name)
    lines = (
        [
            f"{node},{CLUSTER_ADDRESSES[node]} {' '.join(key.split()[:2])}"
            for node, key in known.items()
        ]
        if known
        else []
    )
    _write(target / "ssh_known_hosts", "".join(f"{line}\n" for line in lines))


ADOPT_STACK = """\
# hoplab sandbox: ssh to a node only while you have a job there, adopted into it.
auth required pam_permit.so
account required pam_slurm_adopt.so action_no_jobs=deny action_adopt_failure=allow
session required pam_permit.so
password required pam_deny.so
"""


def write_node_pam(paths: Paths, node: str, *, adopt: bool) -> None:
    """``node``'s /etc/pam.d: the machine's own, or sshd's stack with pam_slurm_adopt."""
    target = otp.copy_pam(paths, node)
    if adopt:
        _write(target / "sshd", ADOPT_STACK)


def write_slurm_conf(paths: Paths, *, contain: bool) -> None:
    """slurm.conf and job_container.conf (see :func:`slurm.render_slurm_conf`)."""
    _write(paths.slurm_conf, slurm.render_slurm_conf(paths, contain=contain))
    _write(paths.job_container_conf, slurm.render_job_container_conf(paths))
    for node in NODES:
        paths.job_tmp(node).mkdir(parents=True, exist_ok=True)


def write_sshd_config(paths: Paths, host: str, *, refuse: bool, adopt: bool = False) -> None:
    """``host``'s sshd_config; ``refuse`` adds ``DenyUsers`` for the test user; ``adopt``
    turns PAM on (a node's pam_slurm_adopt)."""
    config = sshd.render_sshd_config(
        address=ssh_address(host),
        host_key=paths.host_key(host),
        pid_file=paths.sshd_pid(host),
        authorized_keys_dir=paths.authorized_keys,
        environment=session_environment(paths),
        path_dir=paths.path_dir(host),
        deny_users=(USER,) if refuse else (),
        use_pam=adopt,
    )
    _write(paths.sshd_config(host), config, mode=0o600)


def session_environment(paths: Paths) -> dict[str, str]:
    """What every ssh session of the sandbox gets: the schedulers' configuration."""
    return {"SLURM_CONF": str(paths.slurm_conf), **gridengine.client_env(paths.sge_root)}


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.write_text(text)
    path.chmod(mode)
