# ended: for each session in HOPLAB_IDS whose tombstone ~/.hoplab/ended/ID a `hoplab down` left
# (see stop.sh), `ended ID AT BY` (protocol.Reply.ENDED): AT the Unix time, BY who stopped it
# (user@computer). With HOPLAB_FORGET=yes the tombstones are removed instead: the computer
# asking has settled its record. Tombstones older than 7 days are removed first, unread.
ended="$HOME/.hoplab/ended"
if [ -d "$ended" ]; then
    # -mtime +6: seven whole days or more
    find "$ended" -type f -mtime +6 -exec rm -f {} + 2>/dev/null || true
fi
for id in $HOPLAB_IDS; do
    file="$ended/$id"
    [ -f "$file" ] || continue
    if [ "$HOPLAB_FORGET" = yes ]; then
        rm -f "$file"
        continue
    fi
    at=- by=-
    read -r at by < "$file" || true
    say ended "$id" "${at:--}" "${by:--}"
done
