# Wait (bounded) until the session is ready, has failed, or the budget is spent; say which:
# `ready PID` (then the jpserver or nbserver JSON), `failed KIND` (then the error), `node NAME`, `exited PID`
# (then the log's tail), `gone`, or `waiting STATE` (protocol.Reply, FailKind, LauncherStatus).
# In a batch job the launcher runs on another host: its PID means nothing here, so its end is
# read from `status` instead (HOPLAB_LOCAL=no). In a job (HOPLAB_ASK=yes) a newly known node is
# news before anything else; HOPLAB_EXPECT (protocol.Expect) skips a server being replaced:
# tcp skips a socket one, home one whose socket is not in the session directory.
dir="$sessions/$HOPLAB_ID"
# Jupyter starting on this very host answers within a second or two: look every 10 ms for the
# first 5 s, so the handshake is seen at most that long after it is written (each look is a few
# tests in this shell and one `sleep`); then, and for a job (which may wait in a queue for
# hours), every 100 ms.
if [ "$HOPLAB_LOCAL" = yes ]; then cs=1 nap_cap=1; fi
while :; do
    if [ "$waited" -ge 500 ]; then nap_cap=10; fi
    state=none detail=
    if [ -f "$dir/status" ]; then read -r state detail < "$dir/status" || state=none; fi
    if [ "$state" = failed ]; then
        say failed "$detail"
        cat "$dir/error" 2>/dev/null
        exit 0
    fi
    if [ "$HOPLAB_ASK" = yes ] && [ -f "$dir/node" ] && [ ! -f "$dir/reach" ]; then
        say node "$(cat "$dir/node")"
        exit 0
    fi
    pid=
    if [ -f "$dir/pid" ]; then read -r pid < "$dir/pid" || true; fi
    info="$dir/runtime/jpserver-$pid.json"  # classic Notebook (< 7) writes nbserver-<pid>.json
    if [ ! -s "$info" ]; then info="$dir/runtime/nbserver-$pid.json"; fi
    if [ -n "$pid" ] && [ -s "$info" ] && { [ "$HOPLAB_EXPECT" != tcp ] || ! grep -q '"sock": "/' "$info"; } &&
        { [ "$HOPLAB_EXPECT" != home ] || grep -qF "\"sock\": \"$dir/" "$info"; }; then
        say ready "$pid"
        cat "$info"
        exit 0
    fi
    if [ "$state" = exited ] || { [ "$HOPLAB_LOCAL" = yes ] && [ -n "$pid" ] && ! alive "$pid"; }; then
        # a launcher that failed wrote why just before it ended: read its status once more
        if [ -f "$dir/status" ] && read -r again _ < "$dir/status" && [ "$again" = failed ]; then
            continue
        fi
        say exited "$pid"
        tail -n 20 "$dir/jupyter.log" 2>/dev/null
        exit 0
    fi
    if [ ! -d "$dir" ]; then say gone; exit 0; fi
    if [ "$waited" -ge "$HOPLAB_WAIT_CS" ]; then say waiting "$state"; exit 0; fi
    nap
done
