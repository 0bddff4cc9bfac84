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

from hoplab.testing import accounts, gridengine, slurm, sshd
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
    _write(paths.known_hosts, sshd.render_known_hosts({LOGIN: host_keys[LOGIN]}))
    _write(paths.harness_known_hosts, sshd.render_known_hosts(host_keys))
    write_etc_ssh(paths, LOGIN, {node: host_keys[node] for node in NODES})
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
    _write(paths.slurm_conf, slurm.render_slurm_conf(paths))
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


def write_sshd_config(paths: Paths, host: str, *, refuse: bool) -> None:
    """``host``'s sshd_config; ``refuse`` adds ``DenyUsers`` for the test user."""
    config = sshd.render_sshd_config(
        address=ssh_address(host),
        host_key=paths.host_key(host),
        pid_file=paths.sshd_pid(host),
        authorized_keys_dir=paths.authorized_keys,
        environment={
            "SLURM_CONF": str(paths.slurm_conf),
            **gridengine.client_env(paths.sge_root),
        },
        path_dir=paths.path_dir(host),
        deny_users=(USER,) if refuse else (),
    )
    _write(paths.sshd_config(host), config, mode=0o600)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.write_text(text)
    path.chmod(mode)
