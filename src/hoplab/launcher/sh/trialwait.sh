# Wait, up to HOPLAB_WAIT_CS, for the test job of `hoplab doctor --job` to start: say
# `node NAME` and its `socket-dir STATE DIR` (protocol.Reply); nothing while it has not.
dir="$trials/$HOPLAB_ID"
while [ ! -f "$dir/node" ] && [ -d "$dir" ] && [ "$waited" -lt "$HOPLAB_WAIT_CS" ]; do nap; done
if [ -f "$dir/node" ]; then
    say node "$(cat "$dir/node")"
    cat "$dir/socket-dir" 2>/dev/null
fi
