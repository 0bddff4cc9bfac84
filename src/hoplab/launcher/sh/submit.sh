# Submit the launcher (or start it detached on a plain host) from the session directory. Say
# `submitted` then the job id, or `rejected` then the scheduler's own words (protocol.Reply),
# and remove the directory again.
cd "$dir"
if job=$(
#@SUBMIT@
) 2> "$dir/submit.err"; then
    # First, before any output: should this client have died meanwhile, the first write to
    # its closed channel ends this script, and `hoplab ls` / `down` read the job id here.
    printf '%s\n' "$job" > "$dir/submitted"
    say submitted
    printf '%s\n' "$job"
else
    say rejected
    cat "$dir/submit.err"
    cd /
    rm -rf "$dir"
fi
