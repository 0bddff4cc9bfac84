# End the test job of `hoplab doctor --job`: `done` lets it finish on its own; with
# HOPLAB_REMOVE=yes (once the job left the queue) its directory goes too.
dir="$trials/$HOPLAB_ID"
if [ -d "$dir" ]; then : > "$dir/done"; fi
if [ "$HOPLAB_REMOVE" = yes ]; then
    rm -rf "$dir"
    rmdir "$trials" 2>/dev/null || true  # the last test job leaves no empty directory behind
fi
