# Create the private session directory; the token and the launcher follow as here-documents.
# Says `dir PATH` and `host NAME` (protocol.Reply). `meta` holds: scheduler, its version, app,
# host, protocol version.
set -eu
umask 077
mkdir -p "$sessions"
chmod 700 "$HOME/.hoplab" "$sessions"
dir="$sessions/$HOPLAB_ID"
mkdir "$dir" "$dir/runtime"
here=$(hostname)
printf '%s %s %s %s %s\n' "$HOPLAB_SCHEDULER" "$HOPLAB_VERSION" "$HOPLAB_APP" "$here" \
    "$HOPLAB_PROTOCOL" > "$dir/meta"
say dir "$dir"
say host "$here"
