# socket_dir_state DIR: whether Jupyter's socket could go in DIR as the launcher makes it
# (launcher.sh `serve`): say `socket-dir STATE DIR` (protocol.SocketDir). Reads only.
socket_dir_state() {
    # A socket path must fit sun_path: 108 bytes on Linux, 104 elsewhere, with its NUL; the
    # longest name hoplab puts there is "<8 hex>.sock".
    limit=103
    if [ "$(uname -s 2>/dev/null)" = Linux ]; then limit=107; fi
    if [ $((${#1} + 14)) -gt "$limit" ]; then state=too-long
    elif [ -L "$1" ] || { [ -e "$1" ] && [ -d "$1" ] && [ ! -O "$1" ]; }; then state=foreign
    elif [ -e "$1" ] && [ ! -d "$1" ]; then state=not-directory
    elif [ -d "$1" ]; then
        case $(ls -ld "$1" 2>/dev/null) in
            drwx------*) state=private ;;
            *) state=loose ;;
        esac
    else
        parent=${1%/*}
        while [ -n "$parent" ] && [ ! -e "$parent" ]; do parent=${parent%/*}; done
        if [ -w "${parent:-/}" ] && [ -x "${parent:-/}" ]; then state=creatable; else state=unwritable; fi
    fi
    say socket-dir "$state" "$1"
}
