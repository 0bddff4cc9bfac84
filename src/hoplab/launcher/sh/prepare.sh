# Create the private session directory; the token and the launcher follow as here-documents.
# Says `dir PATH` and `host NAME`, and without a scheduler `socket PATH` (protocol.Reply).
# `meta` holds: scheduler, its version, app, host, protocol version.
set -eu
umask 077
if [ ! -d "$sessions" ]; then mkdir -p "$sessions"; fi  # (no process when it is there)
chmod 700 "$HOME/.hoplab" "$sessions"
dir="$sessions/$HOPLAB_ID"
mkdir "$dir" "$dir/runtime"
here=$(hostname 2>/dev/null) || here=  # (a host may have no hostname command)
printf '%s %s %s %s %s\n' "$HOPLAB_SCHEDULER" "$HOPLAB_VERSION" "$HOPLAB_APP" "$here" \
    "$HOPLAB_PROTOCOL" > "$dir/meta"
say dir "$dir"
say host "$here"
# Without a scheduler the launcher starts here: the socket it will most likely give Jupyter
# is known now, and hoplab forwards to it while Jupyter starts (the launcher works it out
# itself, after the environment's activation, which may set HOPLAB_SOCKET_BASE).
if [ "$HOPLAB_SCHEDULER" = none ]; then say socket "$(socket_dir)/$HOPLAB_ID.sock"; fi
