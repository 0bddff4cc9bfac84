"""A login node that asks for a key and then a one-time code, as many sites' login nodes do.

A second sshd in login01's namespace, on :data:`OTP_PORT`, with ``UsePAM yes`` and
``AuthenticationMethods publickey,keyboard-interactive:pam``. Its PAM stack is Debian's
``pam_google_authenticator`` (TOTP). sshd's PAM service name is its program name, so it runs
through a symlink ``sshd-otp`` and gets ``/etc/pam.d/sshd-otp`` in login01's own copy of
/etc/pam.d (bind-mounted there): the machine's own PAM files stay untouched. It is started only
by the tests that ask for it, and ended by its PID.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.testing import sshd
from hoplab.testing.layout import LOGIN, LOGIN_ADDRESS, USER, Paths
from hoplab.testing.tools import tool

if TYPE_CHECKING:
    import pwd

OTP_PORT = 2222
OTP_ALIAS = "login01-otp"
SERVICE = "sshd-otp"
PAM_STACK = """\
# hoplab sandbox: the key was checked by sshd; PAM asks for the one-time code.
auth required pam_google_authenticator.so
account required pam_permit.so
session required pam_permit.so
password required pam_deny.so
"""
ETC_PAM = Path("/etc/pam.d")


def write_pam(paths: Paths) -> None:
    """login01's /etc/pam.d: the machine's own files and the ``sshd-otp`` service."""
    target = copy_pam(paths, LOGIN)
    (target / SERVICE).write_text(PAM_STACK)
    (target / SERVICE).chmod(0o644)


def copy_pam(paths: Paths, host: str) -> Path:
    """A fresh copy of the machine's /etc/pam.d for ``host``'s mount namespace."""
    target = paths.etc_pam(host)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ETC_PAM, target, symlinks=True)
    return target


def write_config(paths: Paths, environment: dict[str, str]) -> None:
    """The OTP sshd's config (login01's host key, its own port and PID file) and its symlink."""
    base = sshd.render_sshd_config(
        address=LOGIN_ADDRESS,
        host_key=paths.host_key(LOGIN),
        pid_file=paths.otp_pid,
        authorized_keys_dir=paths.authorized_keys,
        environment=environment,
        path_dir=paths.path_dir(LOGIN),
    )
    lines = [
        line
        for line in base.splitlines()
        if not line.startswith(("Port ", "UsePAM", "KbdInteractiveAuthentication", "PidFile"))
    ]
    lines += [
        f"Port {OTP_PORT}",
        f"PidFile {paths.otp_pid}",
        "UsePAM yes",
        "KbdInteractiveAuthentication yes",
        "AuthenticationMethods publickey,keyboard-interactive:pam",
    ]
    paths.otp_config.write_text("\n".join(lines) + "\n")
    paths.otp_config.chmod(0o600)
    link = paths.otp_binary
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(tool("sshd"))


def new_secret() -> str:
    """A base32 TOTP secret, as google-authenticator makes them."""
    return base64.b32encode(secrets.token_bytes(10)).decode()


def write_user_secret(account: pwd.struct_passwd, secret: str) -> Path:
    """``~/.google_authenticator`` for the user: the secret, then TOTP; the user's, 0400."""
    path = Path(account.pw_dir) / ".google_authenticator"
    path.unlink(missing_ok=True)
    path.write_text(f'{secret}\n" TOTP_AUTH\n')
    os.chown(path, account.pw_uid, account.pw_gid)
    path.chmod(0o400)
    return path


def code(secret: str) -> str:
    """The current one-time code (Debian's oathtool)."""
    return process.run([tool("oathtool"), "--totp", "-b", secret]).stdout.strip()


def client_block(paths: Paths) -> str:
    """ssh_config lines for the OTP login (and a node behind it), for a test's own config."""
    key = paths.client_key(USER)
    common = (
        f"    User {USER}\n    IdentityFile {key}\n    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {paths.known_hosts}\n    GlobalKnownHostsFile /dev/null\n"
        "    StrictHostKeyChecking yes\n"
    )
    return (
        f"Host {OTP_ALIAS}\n    HostName {LOGIN_ADDRESS}\n    Port {OTP_PORT}\n{common}"
        f"Host node001-otp\n    HostName node001\n    ProxyJump {OTP_ALIAS}\n{common}"
    )


def argv(paths: Paths) -> list[str]:
    return [str(paths.otp_binary), "-D", "-e", "-f", str(paths.otp_config)]


__all__ = ["OTP_ALIAS", "OTP_PORT", "USER"]
