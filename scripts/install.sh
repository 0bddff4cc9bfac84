#!/usr/bin/env bash
# Install everything hoplab, its tests and its sandbox need on a fresh Debian 12 machine (root).
# Idempotent: a second run only checks. Creates .venv/ in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  openssh-server openssh-client   # the real sshd of the sandbox, and the client hoplab drives
  slurm-wlm munge                 # the sandbox's real SLURM
  python3 python3-venv python3-pip  # Debian's python for .venv and the sandbox Jupyter venv
  iproute2 procps util-linux      # ip netns/route, ps, nsenter/unshare/setsid
  chromium                        # the browser test (driven by playwright, never downloaded)
  mkdocs mkdocs-material          # the user guide (docs/), built in strict mode by the tests
  shellcheck                      # the repository's shell scripts
  libpam-google-authenticator oathtool  # a login node that asks for a one-time code (TOTP)
  libpam-slurm-adopt              # ssh to a node only while a job runs there
  netcat-openbsd                  # the ProxyCommand behind the sandbox's name "login"
  tmux                            # counting those prompts in a real terminal
  tcsh                            # a login shell that is not POSIX sh
  lmod                            # environment modules, defined by login shells only
  rsync curl                      # hoplab sync at both ends; the reconnect script's wait
  ca-certificates
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Grid Engine for the sandbox (gridengine-master, -exec, -client: Debian's 8.1.9). The sandbox
# makes and runs its own cell, so the packages must neither configure one nor start a daemon:
# debconf is preseeded (no automatic cell; its master would be login01), and while they install
# a policy-rc.d (unless the machine has one already) refuses every service start, including
# that of the mail server they pull in.
# OAR 2.5.9 and the PostgreSQL it needs are installed the same way: the sandbox runs its own
# database cluster and daemons (hoplab.testing.oar), started only on request.
sge_packages=(gridengine-master gridengine-exec gridengine-client
  oar-server oar-server-pgsql oar-user oar-user-pgsql oar-node postgresql)
sge_missing=()
for package in "${sge_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || sge_missing+=("$package")
done
if [ ${#sge_missing[@]} -gt 0 ]; then
  echo "installing: ${sge_missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  debconf-set-selections <<'PRESEED'
gridengine-common shared/gridengineconfig boolean false
gridengine-common shared/gridenginemaster string login01
PRESEED
  policy=/usr/sbin/policy-rc.d
  own_policy=no
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=yes
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${sge_missing[@]}" >/dev/null
  if [ "$own_policy" = yes ]; then
    rm -f "$policy"
    trap - EXIT
  fi
fi

if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
# An editable install compiles nothing, and a machine with PYTHONDONTWRITEBYTECODE set never
# writes bytecode: every hoplab command would compile its modules again (~40 ms each start).
# A regular install compiles them once; so does this.
.venv/bin/python -m compileall -q src
echo "installed: $(.venv/bin/hoplab --version)"
