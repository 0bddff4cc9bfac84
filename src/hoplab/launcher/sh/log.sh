# The session's Jupyter log: the last lines, or follow it while Jupyter runs. Not `exec`: the
# frame closes when tail ends.
log="$sessions/$HOPLAB_ID/jupyter.log"
if [ ! -f "$log" ]; then echo "hoplab: no log at $log"; exit 3; fi
if [ "$HOPLAB_FOLLOW" = yes ]; then tail -n "$HOPLAB_LINES" -f "$log"; exit; fi
tail -n "$HOPLAB_LINES" "$log"
