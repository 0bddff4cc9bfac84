# Sets bin, the jupyter-$HOPLAB_APP to run, or calls `fail` (launcher.sh, doctor.sh) with
# no-jupyter or other-jupyter (protocol.FailKind).
bin=$(command -v "jupyter-$HOPLAB_APP" 2>/dev/null) ||
    fail no-jupyter "jupyter-$HOPLAB_APP not found on $(hostname) after activating $HOPLAB_TRIED (PATH=$PATH)"
# A named venv or conda env must hold the Jupyter that runs: another one found further down PATH
# (the system's, another env's) is never run in its place.
prefix=
if [ -n "${HOPLAB_VENV:-}" ]; then prefix=${VIRTUAL_ENV:-$HOPLAB_VENV}; fi
if [ -n "${HOPLAB_CONDA:-}" ]; then prefix=${CONDA_PREFIX:-$HOPLAB_CONDA}; fi
case $bin in
    "$prefix"/bin/*) ;;
    *) if [ -n "$prefix" ]; then
           fail other-jupyter "$HOPLAB_TRIED has no jupyter-$HOPLAB_APP ($prefix/bin); the one on PATH is $bin, which hoplab does not run in its place"
       fi ;;
esac
