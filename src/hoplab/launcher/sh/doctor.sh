# What `hoplab doctor` asks the target; it reads and changes nothing. Says (protocol.Reply):
# `shell PATH` (the login shell), `failed KIND MESSAGE` for each step that would stop the
# launcher (protocol.FailKind: env, no-jupyter, other-jupyter), `jupyter PATH|-`,
# `server MAJOR MINOR|-` (jupyter_server's version, or classic Notebook's), `sockets yes|no`,
# `socket-dir STATE DIR` (sockdir.sh); then what activating the environment printed, stdout
# and stderr together, framed as the command `activate`.
say shell "${SHELL:--}"
failed=
fail() {  # as the launcher's, but it records the first failure and lets doctor look on
    if [ -z "$failed" ]; then failed="$1 $2"; fi
    return 1
}
# Activate as the launcher does, in this shell (modules and conda change its environment),
# with its output kept aside: the frame's text holds only replies.
cd "$HOME" || fail workdir "cannot enter the home directory $HOME"
hoplab_err=$(mktemp "${TMPDIR:-/tmp}/hoplab-doctor.XXXXXX") || hoplab_err=
{
#@ACTIVATE@
} > "${hoplab_err:-/dev/null}" 2>&1
activated=0  # as for the launcher, only a step that calls `fail` fails (not a setup line)
if [ -n "$failed" ]; then say failed "$failed"; failed='' activated=1; fi
if [ -n "${HOPLAB_WORKDIR:-}" ] && [ ! -d "$HOPLAB_WORKDIR" ]; then
    say failed workdir "working directory $HOPLAB_WORKDIR does not exist on $(hostname)"
fi

bin=
#@FINDJUPYTER@
if [ -n "$failed" ]; then say failed "$failed"; fi
if [ -n "$bin" ]; then
    #@VERSIONS@
    say jupyter "$bin"
    if [ "$app_class" = NotebookApp ]; then server=$(version_of notebook); fi
    say server "${server:--}"
    say sockets "$sock_ok"
    : "$port_zero"  # versions.sh sets it for the launcher's TCP port; doctor does not need it
else
    say jupyter -
fi
socket_dir_state "$(socket_dir)"

frame out activate
if [ -n "$hoplab_err" ]; then cat "$hoplab_err"; fi
frame err activate
frame rc activate "$activated"
