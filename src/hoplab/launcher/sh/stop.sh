# stop ID PID SOCKET WHERE: TERM Jupyter, KILL it (and its kernels) after a bounded wait, remove
# the socket and the session directory; then say what is left, so the caller can verify each
# step: `stop ID WORD` with WORD killed|not-jupyter|still-running|socket-left|dir-left, and
# `stop ID done` last (protocol.StopFinding). WHERE is "host" (a plain host: all of it), "node" (a batch job's node: Jupyter and the
# socket; the launcher still writes to the directory until the job ends) or "login" (the
# directory only: a PID from another host must never be signalled here). On a host or a node,
# the session's mark in the socket directory goes too, and the directory itself once empty:
# every session that uses it keeps its mark there from the start (launcher.sh), so an empty one
# serves no one.
stop() {
    id=$1 sock=$3 where=$4
    dir="$sessions/$id"
    if [ "$where" != login ]; then pid=$(pid_of "$id" "$2"); else pid='' sock=''; fi
    if alive "$pid"; then
        case $(command_of "$pid") in
            *jupyter*|*"/$id/launch.sh")  # Jupyter, or its launcher before the exec
                kids=$(ps -A -o pid= -o ppid= | awk -v p="$pid" '$2 == p { print $1 }')
                kill -TERM "$pid" 2>/dev/null
                cs=2 waited=0
                while alive "$pid" && [ "$waited" -lt 1000 ]; do nap; done
                if alive "$pid"; then
                    say stop "$id" killed
                    # One argument per PID:
                    # shellcheck disable=SC2086
                    kill -KILL "$pid" $kids 2>/dev/null
                    cs=2 waited=0
                    while alive "$pid" && [ "$waited" -lt 300 ]; do nap; done
                fi ;;
            *) say stop "$id" not-jupyter ;;
        esac
    fi
    if alive "$pid" && command_of "$pid" | grep -q jupyter; then
        say stop "$id" still-running
    fi
    if [ -n "$sock" ]; then rm -f "$sock"; fi
    if [ -n "$sock" ] && [ -e "$sock" ]; then say stop "$id" socket-left; fi
    if [ "$where" != login ]; then
        viewdir="${HOPLAB_SOCKET_BASE:-/tmp}/hoplab-$(id -u)"
        rm -f "$viewdir/$id.view"
        rmdir "$viewdir" 2>/dev/null || true
    fi
    if [ "$where" != node ]; then rm -rf "$dir"; fi
    if [ "$where" != node ] && [ -e "$dir" ]; then say stop "$id" dir-left; fi
    say stop "$id" 'done'
}
