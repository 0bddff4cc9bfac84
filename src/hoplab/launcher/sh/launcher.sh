# hoplab launcher for one session. It holds no secret: the token sits in a 0600 file beside it
# and reaches Jupyter through JUPYTER_TOKEN_FILE. It records its progress in `status` (and why
# it failed in `error`); Jupyter's own jpserver-<pid>.json in runtime/ is the handshake
# (nbserver-<pid>.json for classic Notebook).
dir="$sessions/$HOPLAB_ID"
umask 077
echo $$ > "$dir/pid"
# In a batch job, log straight into the session directory (schedulers may spool the job's own
# output until it ends), and say which node the scheduler chose before anything slow happens.
if [ "$HOPLAB_BATCH" = yes ]; then
    exec >> "$dir/jupyter.log" 2>&1
    hostname > "$dir/node.tmp" && mv -f "$dir/node.tmp" "$dir/node"
    # The same mark in the node's socket directory and in the session directory: an ssh
    # session on the node that reads both alike sees this job's /tmp (see view.sh).
    viewdir=$(socket_dir)
    mkdir -p "$viewdir" 2>/dev/null && chmod 700 "$viewdir" 2>/dev/null
    mark="$(hostname) $$ $(date +%s)"
    if [ -d "$viewdir" ] && [ -O "$viewdir" ] && [ ! -L "$viewdir" ]; then
        printf '%s\n' "$mark" > "$viewdir/$HOPLAB_ID.view"
    fi
    printf '%s\n' "$mark" > "$dir/view"
fi

status() { printf '%s\n' "$*" > "$dir/status.tmp" && mv -f "$dir/status.tmp" "$dir/status"; }
fail() {  # fail KIND MESSAGE
    printf '%s\n' "$2" > "$dir/error"
    status "failed $1"
    printf 'hoplab: %s\n' "$2" >&2
    exit 1
}

status activating
# Relative paths (--venv, --conda, --workdir, setup lines) mean paths in the remote home, not in
# the session directory the scheduler started this script from.
cd "$HOME" || fail workdir "cannot enter the home directory $HOME"
#@ACTIVATE@

if [ -n "${HOPLAB_WORKDIR:-}" ]; then
    cd "$HOPLAB_WORKDIR" 2>/dev/null ||
        fail workdir "working directory $HOPLAB_WORKDIR does not exist on $(hostname)"
else
    cd "$HOME" || fail workdir "cannot enter the home directory $HOME"
fi

#@FINDJUPYTER@

#@VERSIONS@
# Classic Notebook reads NotebookApp options: --ServerApp.X given to hoplab means the same there.
if [ "$app_class" = NotebookApp ]; then
    for arg do
        shift
        case $arg in --ServerApp.*) arg=--NotebookApp.${arg#--ServerApp.} ;; esac
        set -- "$@" "$arg"
    done
fi

# hoplab's token governs: a JUPYTER_TOKEN from .bashrc or the job's environment would win over
# the token file, and a user's config that empties the token (c.ServerApp.token = '') loses to
# the config directory below, which comes first on JUPYTER_CONFIG_PATH (jupyter_core >= 5).
unset JUPYTER_TOKEN JUPYTER_PASSWORD
mkdir -p "$dir/config" || fail env "cannot write $dir/config"
for name in jupyter_server_config jupyter_notebook_config; do
    cat > "$dir/config/$name.py" <<'EOF_CONFIG'
# hoplab: this session's token, read from its 0600 file (never in argv), whatever other
# config files say; a password set elsewhere does not turn it off.
import os

try:
    from jupyter_server import version_info as _server
except ImportError:  # classic Notebook without jupyter_server
    _server = (0,)
with open(os.environ["JUPYTER_TOKEN_FILE"]) as _file:
    _token = _file.read().strip()
c = get_config()  # noqa: F821
c.NotebookApp.token = _token
if _server[0] >= 2:  # the identity provider holds it (ServerApp.token: deprecated, ignored)
    c.IdentityProvider.token = _token
    c.PasswordIdentityProvider.token = _token  # a subclass's setting would beat its base's
else:
    c.ServerApp.token = _token

# hoplab: at exit, Python's last collections walk the server's whole heap three times (about
# 0.3 s of CPU each time a session stops, which add up when many stop at once). What is left
# then goes with the process: frozen first, it is not walked. Exit handlers still run, after
# Jupyter's own cleanup (kernels shut down, files written); only objects caught in reference
# cycles are not finalized, as at any exit by os._exit.
import atexit, gc

if hasattr(gc, "freeze"):  # Python 3.7+
    atexit.unregister(gc.freeze)  # both config files may be read: once is enough
    atexit.register(gc.freeze)
EOF_CONFIG
done
JUPYTER_CONFIG_PATH="$dir/config${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"
export JUPYTER_CONFIG_PATH JUPYTER_TOKEN_FILE="$dir/token" JUPYTER_RUNTIME_DIR="$dir/runtime" \
    HOPLAB_SESSION="$HOPLAB_ID"
sock="$(socket_dir)/$HOPLAB_ID.sock"

# free_port: a port free on HOPLAB_IP now, for a Jupyter whose handshake would not name the
# port `--port=0` gave it (jupyter_server 1.x and classic Notebook write "port": 0).
free_port() {
    "$py" -c 'import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
with socket.socket(family) as s:
    s.bind((sys.argv[1], 0))
    print(s.getsockname()[1])' "$HOPLAB_IP"
}

# serve ARGS...: become Jupyter, listening as HOPLAB_LISTEN says: a private Unix socket (where
# this Jupyter supports one), else TCP on HOPLAB_IP with a random port, never on every interface.
serve() {
    if [ "$HOPLAB_LISTEN" = socket ] && [ "$sock_ok" = yes ]; then
        base=${sock%/*}
        if [ ! -d "$base" ]; then mkdir -p "$base" 2>/dev/null; fi  # (umask 077: private)
        chmod 700 "$base" 2>/dev/null
        if [ ! -d "$base" ] || [ -L "$base" ] || [ ! -O "$base" ]; then
            fail socket-dir "$base is not a private directory of this user; remove it and retry"
        fi
        # This session's mark keeps the directory while it runs: a stop removes the
        # directory only once no session has a mark in it (stop.sh).
        if [ ! -e "$base/$HOPLAB_ID.view" ]; then : > "$base/$HOPLAB_ID.view"; fi
        if [ -e "$sock" ] || [ -L "$sock" ]; then rm -f "$sock"; fi  # (no process when none)
        status "starting socket $sock"
        exec "$bin" --no-browser --ServerApp.sock="$sock" --ServerApp.sock_mode=0600 "$@"
    fi
    case $HOPLAB_IP in
        ''|0.0.0.0|::|'[::]'|'*') fail listen "refusing to listen on every interface ($HOPLAB_IP)" ;;
    esac
    # Port 0 where the handshake names the port it got; else a free port chosen here, and
    # should another program take it first, Jupyter's own bounded retries (a few ports near it,
    # on HOPLAB_IP only) find another, and its handshake names the one it bound.
    # (No Python to ask, a Jupyter whose version could not be read: port 0 as before.)
    port=0 retries=0
    if [ "$port_zero" != yes ] && port=$(free_port 2>/dev/null); then retries=5; else port=0; fi
    status "starting tcp $HOPLAB_IP"
    exec "$bin" --no-browser --"$app_class".ip="$HOPLAB_IP" --"$app_class".port="$port" \
        --"$app_class".port_retries="$retries" "$@"
}

# watch_lease PID (--lease): end PID when no hoplab client has renewed the lease for
# HOPLAB_LEASE seconds. A renewal changes the content of `lease`; the time is this host's own
# clock, so clocks that disagree between laptop, login node and node do not matter. Each step
# is a timer of a watchdog, not a wait for something: a renewal is seen within one step.
watch_lease() {
    target=$1 last='' seen=$(date +%s)
    step=$((HOPLAB_LEASE / 10))
    if [ "$step" -lt 1 ]; then step=1; elif [ "$step" -gt 30 ]; then step=30; fi
    while alive "$target" && [ -d "$dir" ]; do
        sleep "$step"
        now=$(date +%s)
        current=$(cat "$dir/lease" 2>/dev/null) || current=
        if [ "$current" != "$last" ]; then
            last=$current seen=$now
        elif [ $((now - seen)) -ge "$HOPLAB_LEASE" ]; then
            printf '%s\n' "no hoplab client renewed the lease for $HOPLAB_LEASE s" > "$dir/error"
            status "failed lease"
            kill -TERM "$target" 2>/dev/null
            return 0
        fi
    done
}
if [ "${HOPLAB_LEASE:-0}" -gt 0 ]; then watch_lease $$ </dev/null & fi

# On a plain host the launcher becomes Jupyter (same PID: the lease watch ends it).
if [ "$HOPLAB_BATCH" != yes ]; then serve "$@"; fi

# In a job, hoplab learns the node from the `node` file and writes `reach`: "socket",
# "home-socket" (the node's ssh sessions do not see this job's /tmp: the socket moves to the
# session directory) or "tcp ADDRESS". With "ask" (--reach login-tcp) Jupyter waits for it;
# with "try-socket" it starts on the socket at once and moves only if the node refuses
# ssh. Both waits are bounded: a client that went away does not hold the job.
reach_limit=${HOPLAB_REACH_WAIT_CS:-30000}
read_reach() { read -r HOPLAB_LISTEN HOPLAB_IP < "$dir/reach" 2>/dev/null; }
if [ "$HOPLAB_LISTEN" = ask ]; then
    status "waiting-reach"
    while [ ! -f "$dir/reach" ] && [ "$waited" -lt "$reach_limit" ]; do nap; done
    read_reach || fail reach "no hoplab client said how to listen within $((reach_limit / 100)) s"
fi
trying=no
if [ "$HOPLAB_LISTEN" = try-socket ]; then trying=yes HOPLAB_LISTEN=socket; fi

# Jupyter stays a child: its end is recorded (status "exited CODE"), a cancelled job passes
# the signal on, and the socket is removed.
serve "$@" &
child=$!
echo "$child" > "$dir/pid"
trap 'kill -TERM "$child" 2>/dev/null' TERM HUP INT
if [ "$trying" = yes ]; then
    while alive "$child" && [ ! -f "$dir/reach" ] && [ "$waited" -lt "$reach_limit" ]; do nap; done
    if read_reach && { [ "$HOPLAB_LISTEN" = tcp ] || [ "$HOPLAB_LISTEN" = home-socket ]; }; then
        kill -TERM "$child" 2>/dev/null
        wait "$child"
        rm -f "$sock"
        if [ "$HOPLAB_LISTEN" = home-socket ]; then HOPLAB_LISTEN=socket sock="$dir/j.sock"; fi
        serve "$@" &
        child=$!
        echo "$child" > "$dir/pid"
    fi
fi
code=0
wait "$child" || code=$?
while alive "$child"; do wait "$child" || code=$?; done
viewdir="${HOPLAB_SOCKET_BASE:-/tmp}/hoplab-$(id -u)"
rm -f "$sock" "$viewdir/$HOPLAB_ID.view"
rmdir "$viewdir" 2>/dev/null || true  # once no session keeps a mark in it
read -r last _ < "$dir/status" 2>/dev/null || last=
if [ "$last" != failed ]; then status "exited $code"; fi  # keep the reason it gave
exit "$code"
