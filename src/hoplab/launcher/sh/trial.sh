# The test job of `hoplab doctor --job`, on the node the scheduler chose. As the launcher does
# (launcher.sh), it makes the socket directory and writes the same mark into it and into its
# directory in the shared home (view.sh compares them from an ssh session on the node); it says
# how the socket directory is (sockdir.sh) into `socket-dir`, then names the node in `node`.
# It stays until doctor is done (`done`), or HOPLAB_WAIT_CS runs out, and starts nothing.
dir="$trials/$HOPLAB_ID"
umask 077
viewdir=$(socket_dir)
trap 'rm -f "$viewdir/$HOPLAB_ID.view"; exit 0' TERM INT HUP
mkdir -p "$viewdir" 2>/dev/null && chmod 700 "$viewdir" 2>/dev/null
mark="$(hostname) $$ $(date +%s)"
if [ -d "$viewdir" ] && [ -O "$viewdir" ] && [ ! -L "$viewdir" ]; then
    printf '%s\n' "$mark" > "$viewdir/$HOPLAB_ID.view"
fi
printf '%s\n' "$mark" > "$dir/view"
socket_dir_state "$viewdir" > "$dir/socket-dir.tmp" && mv -f "$dir/socket-dir.tmp" "$dir/socket-dir"
hostname > "$dir/node.tmp" && mv -f "$dir/node.tmp" "$dir/node"
while [ ! -f "$dir/done" ] && [ "$waited" -lt "$HOPLAB_WAIT_CS" ]; do nap; done
rm -f "$viewdir/$HOPLAB_ID.view"
