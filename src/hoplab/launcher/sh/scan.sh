# Every session directory on this host that hoplab's records do not account for (the ids in
# HOPLAB_SKIP are), for `hoplab ls` to find orphans (or, when HOPLAB_ONLY is set, only the ids it
# names: `down` reads the job id of a session whose hoplab died before it saved it): one line each,
# `entry ID PROCESS NODE SCHEDULER VERSION APP PROTOCOL HOST SUBMITTED...` (protocol.Reply.ENTRY),
# HOST where it was made. PROCESS is alive or dead for a
# session started on this very host (its recorded PID is Jupyter or its launcher), `-` for a
# batch job (the scheduler knows) or for one started on another host of a shared home (its PID
# means nothing here). SUBMITTED is what the submit command printed, for the job id. Builtins
# only, but for the liveness check: a home may hold many sessions.
# HOPLAB_DETAIL (protocol.Detail) adds, after an entry, how its Jupyter is reached ("reach":
# `reach ID LISTEN [IP]` from the reach file, `lease ID SECONDS`, `server ID PID JSON` with
# Jupyter's handshake on one line) and ("token") `token ID TOKEN`: what a second computer needs
# to attach. The token goes from its 0600 file to this script's standard output with `cat`:
# it is never in an argv, here or on the laptop.
# say_file KIND ID FILE: `HOPLAB KIND ID` and then FILE's content, as one line.
say_file() { printf 'HOPLAB %s %s ' "$1" "$2"; tr -d '\n' < "$3"; echo; }
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
        "${protocol:-1}" "${host:--}" $submitted
    [ "$HOPLAB_DETAIL" != none ] || continue
    how='' ip=''
    if [ -f "$dir/reach" ]; then read -r how ip < "$dir/reach" || true; fi
    # An empty IP says nothing:
    # shellcheck disable=SC2086
    if [ -n "$how" ]; then say reach "$id" "$how" $ip; fi
    lease=$(sed -n "s/^HOPLAB_LEASE='*\([0-9][0-9]*\)'*\$/\1/p" "$dir/launch.sh" 2>/dev/null)
    if [ -n "$lease" ] && [ "$lease" -gt 0 ]; then say lease "$id" "$lease"; fi
    pid=
    if [ -f "$dir/pid" ]; then read -r pid < "$dir/pid" || pid=; fi
    info="$dir/runtime/jpserver-$pid.json"  # classic Notebook (< 7) writes nbserver-<pid>.json
    if [ ! -s "$info" ]; then info="$dir/runtime/nbserver-$pid.json"; fi
    if [ -n "$pid" ] && [ -s "$info" ]; then say_file server "$id $pid" "$info"; fi
    if [ "$HOPLAB_DETAIL" = token ] && [ -s "$dir/token" ]; then say_file token "$id" "$dir/token"; fi
done
