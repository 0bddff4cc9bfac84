# hoplab launcher for one session. It holds no secret: the token sits in a 0600 file beside it
# and reaches Jupyter through JUPYTER_TOKEN_FILE. It records its progress in `status` (and why
# it failed in `error`); Jupyter's own jpserver-<pid>.json in runtime/ is the handshake.
dir="$sessions/$HOPLAB_ID"
umask 077
echo $$ > "$dir/pid"
# In a batch job, say which node the scheduler chose before anything slow happens.
if [ "$HOPLAB_BATCH" = yes ]; then hostname > "$dir/node.tmp" && mv -f "$dir/node.tmp" "$dir/node"; fi

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

# With --reach auto, hoplab tries ssh to this node meanwhile, then writes how to listen:
# "socket" or "tcp ADDRESS". The wait is bounded: a client that went away does not hold the job.
if [ "$HOPLAB_LISTEN" = ask ]; then
    status "waiting-reach"
    while [ ! -f "$dir/reach" ] && [ "$waited" -lt "${HOPLAB_REACH_WAIT_CS:-30000}" ]; do nap; done
    read -r HOPLAB_LISTEN HOPLAB_IP < "$dir/reach" 2>/dev/null ||
        fail reach "no hoplab client said how to listen within $((${HOPLAB_REACH_WAIT_CS:-30000} / 100)) s"
fi

# run JUPYTER ARGS...: exec it on a plain host; in a job, keep it as a child so its end is
# recorded (status "exited CODE") and a cancelled job passes the signal on and removes the socket.
run() {
    if [ "$HOPLAB_BATCH" != yes ]; then exec "$@"; fi
    "$@" &
    child=$!
    echo "$child" > "$dir/pid"
    trap 'kill -TERM "$child" 2>/dev/null' TERM HUP INT
    code=0
    wait "$child" || code=$?
    while alive "$child"; do wait "$child" || code=$?; done
    if [ -n "${sock:-}" ]; then rm -f "$sock"; fi
    status "exited $code"
    exit "$code"
}

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
    run "$bin" --no-browser --ServerApp.sock="$sock" --ServerApp.sock_mode=0600 "$@"
fi
case $HOPLAB_IP in
    ''|0.0.0.0|::|'*') fail listen "refusing to listen on every interface ($HOPLAB_IP)" ;;
esac
status "starting tcp $HOPLAB_IP"
run "$bin" --no-browser --ServerApp.ip="$HOPLAB_IP" --ServerApp.port=0 \
    --ServerApp.port_retries=0 "$@"
