#!/bin/sh
# Make the Jupyter venvs that tests/local runs the launcher against, once per machine, from
# Debian's python3 (a venv made from a Python under /root is unusable by other users).
# Usage: scripts/local-jupyters.sh [DIR]   (default: $HOPLAB_LOCAL_JUPYTERS or /tmp/hoplab-jupyters)
set -eu
dir=${1:-${HOPLAB_LOCAL_JUPYTERS:-/tmp/hoplab-jupyters}}
mkdir -p "$dir"
make() {  # make NAME PACKAGE...
    name=$1
    shift
    if [ -f "$dir/$name/.complete" ]; then return 0; fi
    rm -rf "${dir:?}/$name"  # a half-made one (a venv cannot be moved into place: paths in it)
    /usr/bin/python3 -m venv "$dir/$name"
    "$dir/$name/bin/pip" install -q "$@"
    touch "$dir/$name/.complete"
}
make nb6 'notebook==6.5.7'
make lab3 'jupyterlab==3.6.8' 'jupyter_server<2'
make lab4 jupyterlab 'notebook>=7'
