#!/usr/bin/env bash
# The main job end to end on a real local cluster: install, start the sandbox, then
#  1. `hoplab up login01 --scheduler slurm`: a SLURM job is submitted from the login node, and Jupyter
#     runs on a compute node, reached by ssh through login01 on a private Unix socket;
#  2. `hoplab up node001 --scheduler none`: Jupyter on a host reached through login01;
# each time a kernel proves where it runs, `ls` shows it, and `down` stops it, verified.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
hoplab=.venv/bin/hoplab
export HOPLAB_STATE_DIR=/tmp/hoplab-demo/state HOPLAB_CONFIG=/tmp/hoplab-demo/config.toml
mkdir -p /tmp/hoplab-demo && chmod 700 /tmp/hoplab-demo

$hoplab sandbox up
export HOPLAB_SSH_CONFIG=/var/lib/hoplab-sandbox/client/ssh_config
trap '$hoplab down --all >/dev/null 2>&1 || true' EXIT

kernel_host() {  # the hostname a kernel of session $1 reports, through hoplab's tunnel
  .venv/bin/python - "$1" <<'PY'
import sys
from hoplab.sessions.store import SessionStore
sys.path.insert(0, "tests/integration")
from kernel import run_code
session = SessionStore().get(sys.argv[1])
base = f"http://127.0.0.1:{session.local_port}"
print(run_code(base, session.token, "import socket; print(socket.gethostname())").strip())
PY
}

newest() { $hoplab ls --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["sessions"][-1]["id"])'; }

echo "== hoplab up login01: a SLURM job on a compute node"
$hoplab up login01 --scheduler slurm --venv /opt/hoplab-sandbox/jupyter --time 30 --no-browser --detach
id=$(newest)
$hoplab ls
host=$(kernel_host "$id")
echo "kernel hostname: $host"
case $host in node00*) ;; *) echo "demo: the kernel did not run on a compute node" >&2; exit 1 ;; esac
$hoplab down "$id"

echo "== hoplab up node001 --scheduler none: a host behind login01, no scheduler"
$hoplab up node001 --scheduler none --venv /opt/hoplab-sandbox/jupyter --no-browser --detach
id=$(newest)
host=$(kernel_host "$id")
echo "kernel hostname: $host"
[ "$host" = node001 ] || { echo "demo: the kernel did not run on node001" >&2; exit 1; }
$hoplab down "$id"
echo "demo: OK"
