# Create the private session directory; the token and the launcher follow as here-documents.
set -eu
umask 077
mkdir -p "$sessions"
chmod 700 "$HOME/.hoplab" "$sessions"
dir="$sessions/$HOPLAB_ID"
mkdir "$dir" "$dir/runtime"
printf '%s %s %s %s\n' "$HOPLAB_SCHEDULER" "$HOPLAB_VERSION" "$HOPLAB_APP" "$(hostname)" > "$dir/meta"
say dir "$dir"
say host "$(hostname)"
