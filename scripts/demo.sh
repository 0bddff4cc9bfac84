#!/usr/bin/env bash
# The main job end to end on a real local cluster: install, start the sandbox, then
# `hoplab up` Jupyter on compute node node001 through login node login01, prove a kernel runs
# there, list it, and stop it with nothing left behind. Also a SLURM smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
hoplab=.venv/bin/hoplab
export HOPLAB_STATE_DIR=/tmp/hoplab-demo/state HOPLAB_CONFIG=/tmp/hoplab-demo/config.toml
mkdir -p -m 700 /tmp/hoplab-demo

$hoplab sandbox up
export HOPLAB_SSH_CONFIG=/var/lib/hoplab-sandbox/client/ssh_config
trap '$hoplab down --all >/dev/null 2>&1 || true' EXIT

echo "== hoplab up node001 (through login01)"
$hoplab up node001 --venv /opt/hoplab-sandbox/jupyter --no-browser --detach
$hoplab ls
id=$($hoplab ls --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["sessions"][0]["id"])')

echo "== a kernel through the tunnel reports where it runs"
.venv/bin/python - "$id" <<'PY'
import json, subprocess, sys
from hoplab.sessions.store import SessionStore
session = SessionStore().get(sys.argv[1])
sys.path.insert(0, "tests/integration")
from test_kernel_and_browser import run_code
base = f"http://127.0.0.1:{session.local_port}"
print("kernel hostname:", run_code(base, session.token, "import socket; print(socket.gethostname())").strip())
PY

echo "== hoplab down"
$hoplab down "$id"

echo "== SLURM smoke run: sbatch as the test user, RUNNING on a node"
ssh -F "$HOPLAB_SSH_CONFIG" node001 hostname
job=$(ssh -F "$HOPLAB_SSH_CONFIG" login01 sbatch --parsable --wrap "'sleep 30'")
for _ in $(seq 1 50); do
  state=$(ssh -F "$HOPLAB_SSH_CONFIG" login01 squeue -h -j "$job" -o "'%T %N'")
  case $state in RUNNING*) break ;; esac
  sleep 0.2
done
echo "job $job: $state"
ssh -F "$HOPLAB_SSH_CONFIG" login01 scancel "$job"
case $state in RUNNING*) echo "demo: OK" ;; *) echo "demo: job never ran" >&2; exit 1 ;; esac
