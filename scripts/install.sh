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

if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "installed: $(.venv/bin/hoplab --version)"
