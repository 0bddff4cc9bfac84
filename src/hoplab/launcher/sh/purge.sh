# Remove hoplab's directory ~/.hoplab from this host, once `hoplab down --purge` has verified
# that nothing of hoplab runs here. HOPLAB_KNOWN names the session directories it looked at: one
# that appeared since (an `up` from another laptop, meanwhile) stops the purge, `purge new ID`
# for each. Otherwise `purge removed`, `purge absent` (nothing to remove) or `purge left` (it
# is still there, or it is not a plain directory of this user: a symlink is never followed)
# (protocol.PurgeFinding).
root="$HOME/.hoplab"
if [ ! -e "$root" ] && [ ! -L "$root" ]; then
    say purge absent
    exit 0
fi
if [ -L "$root" ] || [ ! -d "$root" ] || [ ! -O "$root" ]; then
    say purge left
    exit 0
fi
new=
for dir in "$sessions"/*/; do
    [ -d "$dir" ] || continue
    dir=${dir%/}
    id=${dir##*/}
    case " $HOPLAB_KNOWN " in *" $id "*) ;; *) new="$new $id" ;; esac
done
if [ -n "$new" ]; then
    for id in $new; do say purge new "$id"; done
    exit 0
fi
rm -rf "$root"
if [ -e "$root" ]; then say purge left; else say purge removed; fi
