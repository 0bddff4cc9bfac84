# Sets, for the Jupyter at $bin and the front end $HOPLAB_APP:
# - sock_ok=yes|no: Unix sockets need jupyter_server >= 1.9 (and notebook >= 7 for notebook);
# - app_class=ServerApp|NotebookApp: classic Notebook (< 7) reads NotebookApp options and
#   writes nbserver-<pid>.json, not jpserver-<pid>.json;
# - port_zero=yes|no: whether the handshake of `--port=0` names the port it got (jupyter_server
#   >= 2); otherwise the launcher chooses a free port itself.
# Read the installed versions from the dist-info names beside the interpreter (no Python start,
# which would delay Jupyter); ask Python only when the layout is not the usual one.
py=python3
IFS= read -r first < "$bin" || first=
case $first in
    '#!'*/python*) candidate=${first#??}; candidate=${candidate%% *}
                   if [ -x "$candidate" ]; then py=$candidate; fi ;;
esac
version_of() {  # version_of DIST: "major minor", or nothing
    for info in "${py%/bin/*}"/lib/python3*/site-packages/"$1"-*.dist-info; do
        [ -d "$info" ] || continue
        v=${info##*/"$1"-}; v=${v%.dist-info}
        minor=${v#*.}; minor=${minor%%[!0-9]*}  # "14" of 2.14.2, "0" of 7.0.0a1: no sed to start
        printf '%s %s\n' "${v%%.*}" "$minor"
        return 0
    done
    HOPLAB_DIST="$1" "$py" -c 'import os
from importlib.metadata import version
print(*version(os.environ["HOPLAB_DIST"]).split(".")[:2])' 2>/dev/null
}
at_least() {  # at_least "major minor" MAJOR MINOR
    # Splitting "major minor" into two words is the point:
    # shellcheck disable=SC2086
    set -- $1 "$2" "$3"
    [ $# -eq 4 ] && { [ "$1" -gt "$3" ] || { [ "$1" -eq "$3" ] && [ "$2" -ge "$4" ]; }; }
}
sock_ok=no app_class=ServerApp port_zero=no
server=$(version_of jupyter_server)
if [ "$HOPLAB_APP" = notebook ] && ! at_least "$(version_of notebook)" 7 0; then
    app_class=NotebookApp
elif at_least "$server" 1 9; then
    sock_ok=yes
    if at_least "$server" 2 0; then port_zero=yes; fi
fi
