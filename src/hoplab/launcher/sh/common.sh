# Shared by every remote script hoplab sends (POSIX sh). Values arrive as quoted assignments
# above this line; nothing here is ever built from unquoted input.
sessions="$HOME/.hoplab/sessions"
# The test jobs of `hoplab doctor --job` (never a session: `ls` and `down` do not look here).
# shellcheck disable=SC2034
trials="$HOME/.hoplab/doctor"

# alive PID: a process of this user that exists and is not a zombie waiting to be reaped.
# Without a process: the shell's own kill and read, from /proc where there is one (a stop
# asks this in a loop for every session: ps each time cost a fork and an exec).
alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
    if [ -r "/proc/$1/stat" ]; then
        { IFS= read -r s < "/proc/$1/stat"; } 2>/dev/null || return 1  # gone meanwhile
        s=${s##*) }  # the state follows the command's name, which may hold ") "
    else
        s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    fi
    case $s in Z*|'') return 1 ;; esac
    return 0
}

# nap: one step of a bounded backoff (20, 40, 80, then 100 ms; a script may start lower, with
# `cs`; at most `nap_cap` centiseconds); `waited` counts centiseconds.
cs=2
waited=0
nap_cap=10
nap() {
    if [ "$cs" -ge 10 ]; then sleep 0.1; else sleep "0.0$cs"; fi
    waited=$((waited + cs))
    if [ "$cs" -lt "$nap_cap" ]; then cs=$((cs * 2)); fi
    if [ "$cs" -gt "$nap_cap" ]; then cs=$nap_cap; fi
}

# Not every script calls every shared function (shellcheck cannot see the callers):
# shellcheck disable=SC2317
say() { printf 'HOPLAB %s\n' "$*"; }

# pid_of ID [PID]: the PID hoplab recorded, else the one the launcher wrote for itself (an
# `up` killed between starting Jupyter and recording it must not leave an unstoppable server).
# Not every script calls every shared function (shellcheck cannot see the callers):
# shellcheck disable=SC2317
pid_of() { if [ -n "${2:-}" ]; then echo "$2"; else cat "$sessions/$1/pid" 2>/dev/null; fi; }

# command_of PID: the full command line (-ww: procps cuts it at 80 columns when piped).
# Not every script calls every shared function (shellcheck cannot see the callers):
# shellcheck disable=SC2317
command_of() { ps -ww -o args= -p "$1" 2>/dev/null || ps -o args= -p "$1" 2>/dev/null; }

# socket_dir: the private directory of this user that holds Jupyter's socket on this host, under
# HOPLAB_SOCKET_BASE (default /tmp): node-local and short, as a socket path must be.
# Not every script calls every shared function (shellcheck cannot see the callers):
# shellcheck disable=SC2317
socket_dir() { printf '%s/hoplab-%s\n' "${HOPLAB_SOCKET_BASE:-/tmp}" "$(id -u)"; }
