# check ID PID SOCKET WHERE: one line per session, for `hoplab ls`:
# `check ID PROCESS SOCKET DIR` with PROCESS alive|dead|job, SOCKET present|missing|none and
# DIR present|missing (protocol.Process, SocketState, DirState). WHERE is host|node|login
# (protocol.Where). A batch session checked from the login node (WHERE=login) runs elsewhere:
# its process is the scheduler's business, so only `status` is read.
check() {
    dir="$sessions/$1"
    if [ "$4" = login ]; then
        state=none
        if [ -f "$dir/status" ]; then read -r state _ < "$dir/status" || state=none; fi
        if [ "$state" = exited ]; then process=dead; else process=job; fi
        socket=none
    else
        if alive "$(pid_of "$1" "$2")"; then process=alive; else process=dead; fi
        if [ -z "$3" ]; then socket=none; elif [ -S "$3" ]; then socket=present; else socket=missing; fi
    fi
    if [ -d "$dir" ]; then where=present; else where=missing; fi
    say check "$1" "$process" "$socket" "$where"
}
