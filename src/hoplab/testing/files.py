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
    NAMESPACES,
    OTHER_USER,
    USER,
    Paths,
    render_hosts,
    ssh_address,
)

USERS = (USER, OTHER_USER)
SSHD_PRIVSEP_DIR = Path("/run/sshd")  # a root sshd insists on it


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
    _write(paths.known_hosts, sshd.render_known_hosts(host_keys))
    for user in USERS:
        config = sshd.render_client_config(
            user=user, identity=paths.client_key(user), known_hosts=paths.known_hosts
        )
        _write(paths.ssh_config(user), config)
    slurm.ensure_munge_key(paths.munge_key)
    _write(paths.slurm_conf, slurm.render_slurm_conf(paths))
    _write(paths.hosts, render_hosts())
    gridengine.write_cell(paths)


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
