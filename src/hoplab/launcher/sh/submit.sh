# Submit the launcher (or start it detached on a plain host) from the session directory. Say
# `submitted` then the job id, or `rejected` then the scheduler's own words (protocol.Reply),
# and remove the directory again.
cd "$dir"
if job=$(
#@SUBMIT@
) 2> "$dir/submit.err"; then
    say submitted
    printf '%s\n' "$job"
    printf '%s\n' "$job" > "$dir/submitted"  # for `hoplab ls`, should this client die now
else
    say rejected
    cat "$dir/submit.err"
    cd /
    rm -rf "$dir"
fi
