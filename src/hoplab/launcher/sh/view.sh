# Does this ssh session on the node see the job's socket directory? The launcher wrote the same
# mark into it and into the session directory (shared home); say `view same` or `view other`
# (protocol.View): a job-private /tmp, or another job's namespace, shows another directory.
# (HOPLAB_TRIAL=yes: the test job of `hoplab doctor --job`, whose directory is a trial's)
if [ "$HOPLAB_TRIAL" = yes ]; then dir="$trials/$HOPLAB_ID"; else dir="$sessions/$HOPLAB_ID"; fi
viewdir=$(socket_dir)
while [ ! -s "$dir/view" ] && [ "$waited" -lt "$HOPLAB_WAIT_CS" ]; do nap; done
here=$(cat "$viewdir/$HOPLAB_ID.view" 2>/dev/null) || here=
there=$(cat "$dir/view" 2>/dev/null) || there=
if [ -n "$there" ] && [ "$here" = "$there" ]; then say view same; else say view other; fi
