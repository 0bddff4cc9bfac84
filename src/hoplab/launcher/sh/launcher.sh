# hoplab launcher for one session. It holds no secret: the token sits in a 0600 file beside it
# and reaches Jupyter through JUPYTER_TOKEN_FILE. It records its progress in `status` (and why
# it failed in `error`); Jupyter's own jpserver-<pid>.json in runtime/ is the handshake.
dir="$HOME/.hoplab/sessions/$HOPLAB_ID"
umask 077
echo $$ > "$dir/pid"

status() { printf '%s\n' "$*" > "$dir/status.tmp" && mv -f "$dir/status.tmp" "$dir/status"; }
fail() {  # fail KIND MESSAGE
    printf '%s\n' "$2" > "$dir/error"
    status "failed $1"
    printf 'hoplab: %s\n' "$2" >&2
    exit 1
}

status activating
#@ACTIVATE@

if [ -n "${HOPLAB_WORKDIR:-}" ]; then
    cd "$HOPLAB_WORKDIR" 2>/dev/null ||
        fail workdir "working directory $HOPLAB_WORKDIR does not exist on $(hostname)"
else
    cd "$HOME" || fail workdir "cannot enter the home directory $HOME"
fi

bin=$(command -v "jupyter-$HOPLAB_APP" 2>/dev/null) ||
    fail no-jupyter "jupyter-$HOPLAB_APP not found on $(hostname) after activating $HOPLAB_TRIED (PATH=$PATH)"

#@VERSIONS@

export JUPYTER_TOKEN_FILE="$dir/token" JUPYTER_RUNTIME_DIR="$dir/runtime" HOPLAB_SESSION="$HOPLAB_ID"
if [ "$HOPLAB_LISTEN" = socket ] && [ "$sock_ok" = yes ]; then
    base="${HOPLAB_SOCKET_BASE:-/tmp}/hoplab-$(id -u)"
    mkdir -p "$base" 2>/dev/null
    chmod 700 "$base" 2>/dev/null
    if [ ! -d "$base" ] || [ -L "$base" ] || [ ! -O "$base" ]; then
        fail socket-dir "$base is not a private directory of this user; remove it and retry"
    fi
    sock="$base/$HOPLAB_ID.sock"
    rm -f "$sock"
    status "starting socket $sock"
    exec "$bin" --no-browser --ServerApp.sock="$sock" --ServerApp.sock_mode=0600 "$@"
fi
status "starting tcp $HOPLAB_IP"
exec "$bin" --no-browser --ServerApp.ip="$HOPLAB_IP" --ServerApp.port=0 \
    --ServerApp.port_retries=0 "$@"
