# Does this ssh session on the node see the job's socket directory? The launcher wrote the same
# mark into it and into the session directory (shared home); say `view same` or `view other`
# (protocol.View): a job-private /tmp, or another job's namespace, shows another directory.
dir="$sessions/$HOPLAB_ID"
viewdir="${HOPLAB_SOCKET_BASE:-/tmp}/hoplab-$(id -u)"
while [ ! -s "$dir/view" ] && [ "$waited" -lt "$HOPLAB_WAIT_CS" ]; do nap; done
here=$(cat "$viewdir/$HOPLAB_ID.view" 2>/dev/null) || here=
there=$(cat "$dir/view" 2>/dev/null) || there=
if [ -n "$there" ] && [ "$here" = "$there" ]; then say view same; else say view other; fi
