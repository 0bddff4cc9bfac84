# Every session directory on this host, for `hoplab ls` to find what no record owns: one line
# each, `entry ID PROCESS NODE SCHEDULER VERSION APP SUBMITTED...`. PROCESS is alive or dead for a
# session on this host (its recorded PID is Jupyter or its launcher), `-` for a batch job (the
# scheduler knows); SUBMITTED is what the submit command printed, for the job id.
for dir in "$sessions"/*/; do
    [ -d "$dir" ] || continue
    dir=${dir%/}
    id=${dir##*/}
    scheduler=- version=- app=-
    if [ -f "$dir/meta" ]; then read -r scheduler version app < "$dir/meta" || true; fi
    node=$(cat "$dir/node" 2>/dev/null) || node=
    process=-
    if [ "$scheduler" = none ]; then
        pid=$(cat "$dir/pid" 2>/dev/null) || pid=
        process=dead
        if alive "$pid"; then
            case $(command_of "$pid") in *jupyter*|*"/$id/launch.sh") process=alive ;; esac
        fi
    fi
    submitted=$(tr '\n' ' ' < "$dir/submitted" 2>/dev/null) || submitted=
    say entry "$id" "$process" "${node:--}" "$scheduler" "${version:--}" "${app:--}" $submitted
done
