# The body of `hoplab attach ID --script FILE` (POSIX sh, run on a laptop without hoplab).
# Settings arrive as quoted assignments above; the hops are `open_hop` calls rendered below.
#
# It opens one ssh master per hop, each riding the one before (one authentication per hop,
# as hoplab does), reads the session's token from the remote 0600 file into a 0600 file here,
# forwards 127.0.0.1:PORT to Jupyter, waits until Jupyter answers, and prints the URL.
# Ctrl-C ends every master it opened. The token never reaches an argv.
set -u
umask 077

fail() {
    printf 'hoplab-reconnect: %s\n' "$*" >&2
    exit 1
}

command -v ssh >/dev/null 2>&1 || fail "ssh not found: install the OpenSSH client"
tmp=$(mktemp -d /tmp/hoplab.XXXXXX) || fail "cannot make a private directory in /tmp"
n=0
prev=

# Called from the EXIT trap (shellcheck cannot see it):
# shellcheck disable=SC2317
cleanup() {
    trap - EXIT INT TERM HUP
    while [ "$n" -gt 0 ]; do
        ssh -S "$tmp/cm$n" -o BatchMode=yes -O exit -- hoplab-hop >/dev/null 2>&1
        n=$((n - 1))
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# open_hop DESTINATION HOSTNAME USER PORT KNOWN_HOSTS [SSH_OPTION...]: a master to HOSTNAME
# (read with the user's ssh config for DESTINATION), through the previous hop's master when
# there is one. KNOWN_HOSTS ('' for none) holds the keys that vouch for it where the script
# was written (a node's: what its login node vouched for); the user's own files still count.
# The options name the keys hoplab logged in with (-oIdentityFile=..., -oIdentitiesOnly=yes).
open_hop() {
    destination=$1
    hostname=$2
    user=$3
    port=$4
    keys=$5
    shift 5
    n=$((n + 1))
    cm="$tmp/cm$n"
    set -- "$@" -o "HostName=$hostname" -o "Port=$port" -o RemoteCommand=none -o RequestTTY=no \
        -o ControlMaster=yes -o "ControlPath=$cm" -o ControlPersist=yes \
        -o ServerAliveInterval=15 -o ServerAliveCountMax=3 -o ConnectTimeout=20
    if [ -n "$user" ]; then
        set -- "$@" -o "User=$user"
    fi
    if [ -n "$keys" ]; then
        set -- "$@" -o "UserKnownHostsFile=$keys ~/.ssh/known_hosts ~/.ssh/known_hosts2"
    fi
    if [ -n "$prev" ]; then  # $prev: a path under mktemp's directory, no blank in it
        proxy="ssh -S $prev -o ControlMaster=no -o BatchMode=yes -W %h:%p hoplab-hop"
        set -- "$@" -o "ProxyCommand=$proxy"
    fi
    ssh "$@" -f -N -- "$destination" || fail "ssh to $hostname failed"
    prev=$cm
}

# over N ARGS...: run on hop N's master.
over() {
    hop=$1
    shift
    ssh -S "$tmp/cm$hop" -o ControlMaster=no -o BatchMode=yes -o RemoteCommand=none \
        -o RequestTTY=no -- hoplab-hop "$@"
}

#@HOPS@

# The token, read from the session directory in the remote home (HOPLAB_READ_TOKEN, run by
# the remote sh) into a 0600 file here; only its marked line is read.
printf '%s\n' "$HOPLAB_READ_TOKEN" | over "$HOPLAB_HOME" sh -s >"$tmp/said" ||
    fail "cannot read the session's token over ssh"
sed -n 's/^@hoplab-token \(..*\)$/Authorization: token \1/p' "$tmp/said" >"$tmp/header"
[ -s "$tmp/header" ] || fail "session $HOPLAB_ID has no token there: it has ended (see 'hoplab ls')"

# A free local port: the platform's python3 asks the kernel; else ports are tried in turn.
pick_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        echo $((49152 + ($$ + tries * 7919) % 16000))
    fi
}
tries=0
while :; do
    tries=$((tries + 1))
    [ "$tries" -le 20 ] || fail "no free local port after 20 tries"
    port=$(pick_port) || fail "cannot pick a local port"
    if ssh -S "$tmp/cm$n" -o BatchMode=yes -O forward -L "127.0.0.1:$port:$HOPLAB_REMOTE" \
        -- hoplab-hop 2>/dev/null; then
        break
    fi
done

status_url="http://127.0.0.1:$port${HOPLAB_BASE}api/status"
# status: the HTTP code of /api/status, the token header read from its 0600 file.
status() {
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 5 \
            -H "@$tmp/header" "$status_url"
    elif command -v python3 >/dev/null 2>&1; then
        python3 - "$tmp/header" "$status_url" <<'PY'
import sys, urllib.error, urllib.request
name, _, value = open(sys.argv[1]).read().strip().partition(": ")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    print(opener.open(urllib.request.Request(sys.argv[2], headers={name: value}), timeout=5).status)
except urllib.error.HTTPError as error:
    print(error.code)
except OSError:
    print(0)
PY
    else
        fail "neither curl nor python3 found: install curl"
    fi
}

# A bounded wait with backoff (1, 2, 4, 4... s, 60 s in all).
waited=0
pause=1
while :; do
    code=$(status) || code=000
    case $code in
        200) break ;;
        403) fail "Jupyter refused the session's token" ;;
    esac
    [ "$waited" -lt 60 ] || fail "Jupyter did not answer on 127.0.0.1:$port within 60 s"
    sleep "$pause"
    waited=$((waited + pause))
    if [ "$pause" -lt 4 ]; then pause=$((pause * 2)); fi
done

token=$(sed -n 's/^@hoplab-token //p' "$tmp/said")
rm -f "$tmp/said"
printf '%s\n' "http://127.0.0.1:$port${HOPLAB_BASE}${HOPLAB_APP_PATH}?token=$token"
printf 'session %s answers on 127.0.0.1:%s; Ctrl-C ends the tunnel\n' "$HOPLAB_ID" "$port" >&2

# Hold the tunnel while its connection lives; Ctrl-C (or the connection's end) cleans up.
while ssh -S "$tmp/cm$n" -o BatchMode=yes -O check -- hoplab-hop 2>/dev/null; do
    sleep 5
done
fail "the ssh connection ended"
