# Every session directory on this host that hoplab's records do not account for (the ids in
# HOPLAB_SKIP are), for `hoplab ls` to find orphans (or, when HOPLAB_ONLY is set, only the ids it
# names: `down` reads the job id of a session whose hoplab died before it saved it): one line each,
# `entry ID PROCESS NODE SCHEDULER VERSION APP PROTOCOL SUBMITTED...` (protocol.Reply.ENTRY). PROCESS is alive or dead for a
# session started on this very host (its recorded PID is Jupyter or its launcher), `-` for a
# batch job (the scheduler knows) or for one started on another host of a shared home (its PID
# means nothing here). SUBMITTED is what the submit command printed, for the job id. Builtins
# only, but for the liveness check: a home may hold many sessions.
here=$(hostname)
for dir in "$sessions"/*/; do
    [ -d "$dir" ] || continue
    dir=${dir%/}
    id=${dir##*/}
    case " $HOPLAB_SKIP " in *" $id "*) continue ;; esac
    if [ -n "$HOPLAB_ONLY" ]; then
        case " $HOPLAB_ONLY " in *" $id "*) ;; *) continue ;; esac
    fi
    scheduler=- version=- app=- host=- protocol=1  # a meta without protocol: version 1
    if [ -f "$dir/meta" ]; then read -r scheduler version app host protocol < "$dir/meta" || true; fi
    node=-
    if [ -f "$dir/node" ]; then read -r node < "$dir/node" || node=-; fi
    process=-
    if [ "$scheduler" = none ] && [ "$host" = "$here" ]; then
        pid=
        if [ -f "$dir/pid" ]; then read -r pid < "$dir/pid" || pid=; fi
        process=dead
        if alive "$pid"; then
            case $(command_of "$pid") in *jupyter*|*"/$id/launch.sh") process=alive ;; esac
        fi
    fi
    submitted=
    if [ -f "$dir/submitted" ]; then
        while IFS= read -r line; do submitted="$submitted $line"; done < "$dir/submitted"
    fi
    # One word per line of the submit command's answer:
    # shellcheck disable=SC2086
    say entry "$id" "$process" "${node:--}" "$scheduler" "${version:--}" "${app:--}" \
        "${protocol:-1}" $submitted
done
