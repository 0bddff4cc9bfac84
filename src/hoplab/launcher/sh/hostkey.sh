# The host keys this host knows for HOPLAB_NAMES (space-separated names of one host, on port
# HOPLAB_PORT), so that a laptop which never met that host can check it: `key LINE` for each
# known_hosts line of the system and the user files, `ca LINE` for each @cert-authority line,
# and, only when neither lists the host, `scanned LINE` from ssh-keyscan (trust on first use
# inside the cluster network) (protocol.Reply).
found=no
for file in /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2 \
    "$HOME/.ssh/known_hosts" "$HOME/.ssh/known_hosts2"; do
    [ -r "$file" ] || continue
    # One word per name:
    # shellcheck disable=SC2086
    for name in $HOPLAB_NAMES; do
        if [ "$HOPLAB_PORT" != 22 ]; then name="[$name]:$HOPLAB_PORT"; fi
        lines=$(ssh-keygen -F "$name" -f "$file" 2>/dev/null | grep -v '^#') || continue
        if [ -n "$lines" ]; then
            printf '%s\n' "$lines" | while IFS= read -r line; do say key "$line"; done
            found=yes
        fi
    done
    while IFS= read -r line; do
        case $line in '@cert-authority '*) say ca "$line"; found=yes ;; esac
    done < "$file"
done
if [ "$found" = no ] && command -v ssh-keyscan >/dev/null 2>&1; then
    # One word per name:
    # shellcheck disable=SC2086
    for name in $HOPLAB_NAMES; do
        lines=$(ssh-keyscan -T 5 -p "$HOPLAB_PORT" "$name" 2>/dev/null) || continue
        if [ -n "$lines" ]; then
            printf '%s\n' "$lines" | while IFS= read -r line; do say scanned "$line"; done
            break
        fi
    done
fi
