# check ID PID SOCKET: one line per session, for `hoplab ls`.
check() {
    dir="$sessions/$1"
    if alive "$(pid_of "$1" "$2")"; then process=alive; else process=dead; fi
    if [ -z "$3" ]; then socket=none; elif [ -S "$3" ]; then socket=present; else socket=missing; fi
    if [ -d "$dir" ]; then where=present; else where=missing; fi
    say "$1" "$process" "$socket" "$where"
}
