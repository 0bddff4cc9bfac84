# stop ID PID SOCKET WHERE: TERM Jupyter, KILL it (and its kernels) after a bounded wait, remove
# the socket and the session directory; then say what is left, so the caller can verify each
# step: `stop ID WORD` with WORD killed|not-jupyter|still-running|socket-left|dir-left, and
# `stop ID done` last (protocol.StopFinding). WHERE is "host" (a plain host: all of it), "node" (a batch job's node: Jupyter and the
# socket; the launcher still writes to the directory until the job ends) or "login" (the
# directory only: a PID from another host must never be signalled here). On a host or a node,
# the session's mark in the socket directory goes too, and the directory itself once empty:
# every session that uses it keeps its mark there from the start (launcher.sh), so an empty one
# serves no one.
# With HOPLAB_BY (a `hoplab down`), a directory removed here leaves a tombstone
# ~/.hoplab/ended/ID, "AT BY", that tells the other computers which know the session that it
# was stopped elsewhere, and by whom (`ended.sh` reads and removes it).
# term ID PID SOCKET WHERE: only the TERM of `stop`, sent to every session first, so that many
# Jupyter servers shut down at once and `stop` then mostly finds them gone (ten stops took ten
# shutdowns one after another).
termed=' '
umask 077  # the tombstones below are this user's alone
viewdir=$(socket_dir)
ended="$HOME/.hoplab/ended"
# Not every script calls every shared function (shellcheck cannot see the callers):
# shellcheck disable=SC2317
term() {
    [ "$4" != login ] || return 0
    pid=$(pid_of "$1" "$2")
    alive "$pid" || return 0
    case $(command_of "$pid") in
        *jupyter*|*"/$1/launch.sh") kill -TERM "$pid" 2>/dev/null && termed="$termed$1 " ;;
    esac
    return 0
}

stop() {
    id=$1 sock=$3 where=$4
    dir="$sessions/$id"
    had=no
    if [ -d "$dir" ]; then had=yes; fi
    if [ "$where" != login ]; then pid=$(pid_of "$id" "$2"); else pid='' sock=''; fi
    if alive "$pid"; then
        case $(command_of "$pid") in
            *jupyter*|*"/$id/launch.sh")  # Jupyter, or its launcher before the exec
                case $termed in *" $id "*) ;; *) kill -TERM "$pid" 2>/dev/null ;; esac
                cs=2 waited=0
                while alive "$pid" && [ "$waited" -lt 1000 ]; do nap; done
                if alive "$pid"; then
                    say stop "$id" killed
                    # its kernels, while it is still their parent
                    kids=$(ps -A -o pid= -o ppid= | awk -v p="$pid" '$2 == p { print $1 }')
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
        rm -f "$viewdir/$id.view"
        for mark in "$viewdir"/*.view; do break; done  # another session's: the directory stays
        if [ ! -e "$mark" ]; then rmdir "$viewdir" 2>/dev/null || true; fi
    fi
    if [ "$where" != node ]; then rm -rf "$dir"; fi
    if [ "$where" != node ] && [ -e "$dir" ]; then say stop "$id" dir-left; fi
    if [ -n "$HOPLAB_BY" ] && [ "$where" != node ] && [ "$had" = yes ] && [ ! -e "$dir" ]; then
        if [ -d "$ended" ] || mkdir -p "$ended"; then
            printf '%s %s\n' "$HOPLAB_AT" "$HOPLAB_BY" > "$ended/$id" || true
        fi
    fi
    say stop "$id" 'done'
}
