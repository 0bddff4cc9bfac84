# The session's Jupyter log: the last lines, or follow it while Jupyter runs.
log="$sessions/$HOPLAB_ID/jupyter.log"
if [ ! -f "$log" ]; then echo "hoplab: no log at $log" >&2; exit 3; fi
if [ "$HOPLAB_FOLLOW" = yes ]; then exec tail -n "$HOPLAB_LINES" -f "$log"; fi
exec tail -n "$HOPLAB_LINES" "$log"
