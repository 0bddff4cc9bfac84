"""OAR 2.5.9 in the sandbox, as Debian packages it (``oar-server``, ``oar-user``, ``oar-node``).

Started only on request (``hoplab sandbox up --with oar``, or a test's fixture), because it adds
PostgreSQL to the start:

- a private PostgreSQL cluster on login01 (127.0.0.1:5433 in its namespace; the admin's Unix
  socket in a 0700 directory), and OAR's database made by ``oar-database --create``, which is
  given the admin account because it ignores oar.conf's port;
- Almighty (the OAR server) on login01, and the user tools there;
- on each node, OAR's own sshd on port 6667, through which the server starts jobs as the user;
- oar.conf: the sandbox's database, ``SCHEDULER_MIN_TIME_BETWEEN_2_CALLS=0``, and no cpuset job
  manager (Debian's cgroup one fails here with CPUSET_ERROR);
- one OAR resource per core (two per node, as SLURM's ``CPUs=2``).

OAR's configuration is a copy of the machine's /etc/oar, bind-mounted over it on every host
(see :meth:`Paths.binds`), written when the sandbox starts so every daemon sees it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab.errors import SandboxError

if TYPE_CHECKING:
    from hoplab.testing.layout import Paths

ETC_OAR = Path("/etc/oar")
PG_PORT = 5433
CORES_PER_NODE = 2
POSTGRES = "oar-postgres"
ALMIGHTY = "oar-almighty"
NODE_SSHD = "oar-sshd"  # @node
# What a user's login node needs, and what the server and nodes run.
COMMANDS = ("oarsub", "oarstat", "oardel", "/usr/sbin/Almighty", "/usr/sbin/oar-database")


def is_daemon(name: str) -> bool:
    """Whether a recorded process is one of OAR's (started on request, not with the rest)."""
    return name in {POSTGRES, ALMIGHTY} or name.startswith(f"{NODE_SSHD}@")


def installed() -> bool:
    """Whether the OAR packages and PostgreSQL are on this machine."""
    return ETC_OAR.is_dir() and postgres_bin() is not None and Path("/usr/sbin/Almighty").exists()


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=_major)
    return found[-1].parent if found else None


def _major(path: Path) -> int:
    name = path.parent.parent.name
    return int(name) if name.isdigit() else 0


def write_config(paths: Paths) -> None:
    """OAR's /etc/oar for the sandbox (owners and modes as the packages set them)."""
    target = paths.oar_etc
    shutil.rmtree(paths.oar, ignore_errors=True)
    paths.oar.mkdir(mode=0o755)
    shutil.copytree(ETC_OAR, target, symlinks=True, copy_function=_copy_owned)
    conf = target / "oar.conf"
    values = {
        "DB_HOSTNAME": "127.0.0.1",
        "DB_PORT": str(PG_PORT),
        "DB_BASE_PASSWD": secrets.token_hex(12),
        "DB_BASE_PASSWD_RO": secrets.token_hex(12),
        "SERVER_HOSTNAME": "localhost",
        "LOG_FILE": str(paths.oar / "log" / "oar.log"),
        "SCHEDULER_MIN_TIME_BETWEEN_2_CALLS": "0",
    }
    text = conf.read_text()
    for key, value in values.items():
        line = f'{key}="{value}"'
        text, count = re.subn(rf"^#?\s*{key}=.*$", line, text, count=1, flags=re.MULTILINE)
        if not count:
            text += f"\n{line}\n"
    text = re.sub(r"^(JOB_RESOURCE_MANAGER_PROPERTY_DB_FIELD=)", r"#\1", text, flags=re.MULTILINE)
    conf.write_text(text)  # keeps its owner (oar) and mode (0600)
    log = paths.oar / "log"
    log.mkdir(mode=0o755)
    shutil.chown(log, "oar", "oar")


def _copy_owned(source: str, target: str) -> str:
    """copy2, and the owner too (oar.conf is oar's, 0600)."""
    shutil.copy2(source, target)
    info = Path(source).stat()
    os.chown(target, info.st_uid, info.st_gid)
    return target


def prepare_database(paths: Paths) -> str:
    """A fresh PostgreSQL cluster owned by ``postgres``; the admin's password (0600 file)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise SandboxError("PostgreSQL is not installed", "run scripts/install.sh")
    for path in (paths.oar / "pg", paths.oar / "pgsock"):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(mode=0o700)
        shutil.chown(path, "postgres", "postgres")
    password = secrets.token_hex(12)
    secret = paths.oar / "pg-admin"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    shutil.chown(secret, "postgres", "postgres")
    return password


def as_postgres(argv: list[str]) -> list[str]:
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *argv]


def initdb_argv(paths: Paths) -> list[str]:
    bin_dir = postgres_bin()
    assert bin_dir is not None  # checked by prepare_database
    return as_postgres(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(paths.oar / "pg"),
            "-U",
            "postgres",
            "--auth-local=trust",  # its socket directory is postgres's own, 0700
            "--auth-host=scram-sha-256",
            f"--pwfile={paths.oar / 'pg-admin'}",
            "--no-sync",
        ]
    )


def postgres_argv(paths: Paths) -> list[str]:
    bin_dir = postgres_bin()
    assert bin_dir is not None
    return as_postgres(
        [
            str(bin_dir / "postgres"),
            "-D",
            str(paths.oar / "pg"),
            "-p",
            str(PG_PORT),
            "-h",
            "127.0.0.1",
            "-k",
            str(paths.oar / "pgsock"),
            "-c",
            "fsync=off",
        ]
    )


def create_database_argv(password: str) -> list[str]:
    return [
        "oar-database",
        "--create",
        "--db-admin-user",
        "postgres",
        f"--db-admin-pass={password}",
    ]


def almighty_argv() -> list[str]:
    return ["/usr/sbin/Almighty"]


def node_sshd_argv() -> list[str]:
    return ["/usr/sbin/sshd", "-D", "-e", "-f", "/etc/oar/sshd_config", "-o", "PidFile=none"]


def resources_script(nodes: tuple[str, ...]) -> str:
    """Shell lines (run as root on login01) that declare the nodes' cores and bring them up."""
    lines = ["set -e", "oarproperty -a core", "oarproperty -a cpu"]
    lines += [
        f"oarnodesetting -a -h {node} -p cpu=1 -p core={core}"
        for node in nodes
        for core in range(1, CORES_PER_NODE + 1)
    ]
    lines += [f"oarnodesetting -s Alive -h {node}" for node in nodes]
    return "\n".join(lines) + "\n"


def alive_nodes(oarnodes_s: str) -> set[str]:
    """Nodes whose every resource ``oarnodes -s`` lists as Alive."""
    states: dict[str, set[str]] = {}
    node = None
    for line in oarnodes_s.splitlines():
        if line and not line.startswith(" "):
            node = line.strip()
            states[node] = set()
        elif node is not None and ":" in line:
            states[node].add(line.split(":", 1)[1].strip())
    return {name for name, seen in states.items() if seen == {"Alive"}}
