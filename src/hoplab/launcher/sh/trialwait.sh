# Wait, up to HOPLAB_WAIT_CS, for the test job of `hoplab doctor --job` to start: say
# `node NAME` and its `socket-dir STATE DIR`, or `gone` when its directory is not there
# (protocol.Reply); nothing while it has not started.
dir="$trials/$HOPLAB_ID"
while [ ! -f "$dir/node" ] && [ -d "$dir" ] && [ "$waited" -lt "$HOPLAB_WAIT_CS" ]; do nap; done
if [ -f "$dir/node" ]; then
    say node "$(cat "$dir/node")"
    cat "$dir/socket-dir" 2>/dev/null
elif [ ! -d "$dir" ]; then
    say gone
fi
