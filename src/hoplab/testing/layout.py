"""Where everything of the sandbox lives: host names, addresses, ports and files.

One module holds the whole map so that the network, sshd, SLURM and teardown code agree on it,
and so that a reader sees the cluster at a glance:

    laptop (root namespace) 10.201.1.1 --veth-- 10.201.1.2 login01 (netns)
    login01 br0 10.201.2.1 --bridge-- node001 10.201.2.11, node002 10.201.2.12

Everything the harness owns sits inside 10.201.0.0/16, which a blackhole route keeps on the
machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HARNESS_NETWORK = "10.201.0.0/16"
LOGIN = "login01"
NODES = ("node001", "node002")
NAMESPACES = (LOGIN, *NODES)

LAPTOP_ADDRESS = "10.201.1.1"
LOGIN_ADDRESS = "10.201.1.2"  # login01 as the laptop reaches it
CLUSTER_ADDRESSES = {LOGIN: "10.201.2.1", "node001": "10.201.2.11", "node002": "10.201.2.12"}
PREFIX_LENGTH = 24
ROOT_LINK = "hoplab0"  # the laptop's end of the veth to login01

USER = "hopuser"
OTHER_USER = "hopother"
SSH_PORT = 22
SLURMCTLD_PORT = 16817
SLURMD_PORT = 16818

DEFAULT_ROOT = Path("/var/lib/hoplab-sandbox")
DEFAULT_JUPYTER_VENV = Path("/opt/hoplab-sandbox/jupyter")
NETNS_DIR = Path("/run/netns")


def ssh_address(host: str) -> str:
    """The address sshd of ``host`` listens on: login01 faces the laptop, nodes the cluster."""
    return LOGIN_ADDRESS if host == LOGIN else CLUSTER_ADDRESSES[host]


@dataclass(frozen=True)
class Paths:
    """Every file of one sandbox, derived from its root directory.

    The root and the directories the test users must read (authorized keys, slurm.conf, the
    munge socket) are world-traversable; private keys and daemon state stay root-only.
    """

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, daemon: str) -> Path:
        return self.logs / f"{daemon}.log"

    # sshd side
    def host_dir(self, host: str) -> Path:
        return self.root / "sshd" / host

    def host_key(self, host: str) -> Path:
        return self.host_dir(host) / "ssh_host_ed25519_key"

    def sshd_config(self, host: str) -> Path:
        return self.host_dir(host) / "sshd_config"

    def sshd_pid(self, host: str) -> Path:
        return self.host_dir(host) / "sshd.pid"

    def path_dir(self, host: str) -> Path:
        """First on the PATH of ssh sessions to ``host``: tests put command wrappers here."""
        return self.root / "bin" / host

    @property
    def authorized_keys(self) -> Path:
        """A directory with one file per user, for ``AuthorizedKeysFile .../%u``."""
        return self.root / "sshd" / "authorized_keys"

    # client side (the laptop)
    @property
    def client(self) -> Path:
        return self.root / "client"

    def client_key(self, user: str) -> Path:
        return self.client / f"id_ed25519_{user}"

    def ssh_config(self, user: str) -> Path:
        return self.client / ("ssh_config" if user == USER else f"ssh_config.{user}")

    @property
    def known_hosts(self) -> Path:
        return self.client / "known_hosts"

    # munge and SLURM
    @property
    def munge(self) -> Path:
        return self.root / "munge"

    @property
    def munge_key(self) -> Path:
        return self.munge / "munge.key"

    @property
    def munge_socket_dir(self) -> Path:
        return self.munge / "run"

    @property
    def munge_socket(self) -> Path:
        return self.munge_socket_dir / "munge.socket.2"

    @property
    def slurm(self) -> Path:
        return self.root / "slurm"

    @property
    def slurm_conf(self) -> Path:
        return self.slurm / "slurm.conf"

    @property
    def slurm_state(self) -> Path:
        """slurmctld's StateSaveLocation and the slurmd spool dirs: wiped at every fresh start."""
        return self.slurm / "var"
