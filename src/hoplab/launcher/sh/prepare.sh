# Create the private session directory; the token and the launcher follow as here-documents.
# Says `dir PATH` and `host NAME` (protocol.Reply). `meta` holds: scheduler, its version, app,
# host, protocol version.
set -eu
umask 077
if [ ! -d "$sessions" ]; then mkdir -p "$sessions"; fi  # (no process when it is there)
chmod 700 "$HOME/.hoplab" "$sessions"
dir="$sessions/$HOPLAB_ID"
mkdir "$dir" "$dir/runtime"
here=$(hostname)
printf '%s %s %s %s %s\n' "$HOPLAB_SCHEDULER" "$HOPLAB_VERSION" "$HOPLAB_APP" "$here" \
    "$HOPLAB_PROTOCOL" > "$dir/meta"
say dir "$dir"
say host "$here"
# Without a scheduler the launcher starts here: the socket it will give Jupyter is known now
# (hoplab forwards to it while Jupyter starts), and the launcher is told the directory.
if [ "$HOPLAB_SCHEDULER" = none ]; then
    HOPLAB_SOCKET_DIR=$(socket_dir)
    export HOPLAB_SOCKET_DIR
    say socket "$HOPLAB_SOCKET_DIR/$HOPLAB_ID.sock"
fi
