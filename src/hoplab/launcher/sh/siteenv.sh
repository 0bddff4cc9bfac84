# The site's environment as the user's login shell has it. Sites put the scheduler's commands
# on the PATH in /etc/profile.d or behind `module load slurm`, and define `module` itself in the
# login shell's startup: a plain `sh -s` over ssh has none of that. Values above: none.

# login_env KIND [MODULE]: run the user's login shell (`-l`: its profile, any syntax: bash,
# tcsh, zsh...), `module load MODULE` there if one is named, and import the variables of KIND:
# `scheduler` (PATH, library path and the schedulers' own) or `modules` (what Lmod and
# Environment Modules need). What that shell printed on stderr is kept in $hoplab_login_said.
# The module name is checked here as well as by hoplab: it is written into another shell.
# Not every script calls every shared function (shellcheck cannot see the callers):
# ($hoplab_login_said and $hoplab_found are read by the scripts that call these.)
# shellcheck disable=SC2317,SC2034
login_env() {
    hoplab_login_said=
    case ${2:-} in *[!A-Za-z0-9._+/-]*) hoplab_login_said="not a module name: $2"; return 1 ;; esac
    hoplab_shell=${SHELL:-}
    if [ -z "$hoplab_shell" ] || [ ! -x "$hoplab_shell" ]; then
        hoplab_shell=$(getent passwd "$(id -un)" 2>/dev/null | cut -d: -f7)
    fi
    if [ -z "$hoplab_shell" ] || [ ! -x "$hoplab_shell" ]; then hoplab_shell=/bin/sh; fi
    hoplab_mark="@hoplab-env-$$"
    hoplab_env=$(mktemp "${TMPDIR:-/tmp}/hoplab-env.XXXXXX") || return 1
    # echo and env mean the same in every shell; the marks fence off startup banners.
    {
        if [ -n "${2:-}" ]; then printf 'module load %s\n' "$2"; fi
        printf 'echo %s\nenv\necho %s\n' "$hoplab_mark" "$hoplab_mark"
    } | hoplab_bounded "$hoplab_shell" -l > "$hoplab_env" 2> "$hoplab_env.err"
    hoplab_login_said=$(cat "$hoplab_env.err")
    hoplab_inside=
    while IFS= read -r hoplab_line; do
        if [ "$hoplab_line" = "$hoplab_mark" ]; then
            if [ -n "$hoplab_inside" ]; then break; fi
            hoplab_inside=1
            continue
        fi
        [ -n "$hoplab_inside" ] || continue
        hoplab_name=${hoplab_line%%=*}
        [ "$hoplab_name" != "$hoplab_line" ] || continue
        case $hoplab_name in ''|[0-9]*|*[!A-Za-z0-9_]*) continue ;; esac
        # shellcheck disable=SC2163 # export NAME=VALUE, the whole line
        if "wanted_$1" "$hoplab_name"; then export "$hoplab_line"; fi
    done < "$hoplab_env"
    rm -f "$hoplab_env" "$hoplab_env.err"
    [ -n "$hoplab_inside" ]
}

# hoplab_bounded COMMAND...: at most 20 s (a login profile that waits for a terminal must
# not hold the script until hoplab's own time-out: it then counts as not finding anything).
# shellcheck disable=SC2317
hoplab_bounded() {
    if command -v timeout >/dev/null 2>&1; then timeout 20 "$@"; else "$@"; fi
}

# shellcheck disable=SC2317
wanted_scheduler() {
    case $1 in
        PATH|LD_LIBRARY_PATH|SLURM_CONF|SGE_*|PBS_*|LSF_*|LSB_*|OAR_*|CONDOR_*|_CONDOR_*) return 0 ;;
    esac
    return 1
}

# shellcheck disable=SC2317
wanted_modules() {
    case $1 in MODULEPATH|MODULEPATH_ROOT|MODULESHOME|LMOD_*) return 0 ;; esac
    return 1
}

# scheduler_env COMMANDS [MODULE]: make the scheduler callable here. When one of COMMANDS is
# on this shell's PATH and no MODULE is named, there is nothing to do; otherwise the login
# shell's environment is imported (after `module load MODULE`). $hoplab_found says which
# (protocol.SchedulerPath): path, login-shell or module.
# shellcheck disable=SC2317,SC2034
scheduler_env() {
    hoplab_found=path
    if [ -z "${2:-}" ]; then
        for hoplab_command in $1; do
            if command -v "$hoplab_command" >/dev/null 2>&1; then return 0; fi
        done
    fi
    if [ -n "${2:-}" ]; then hoplab_found=module; else hoplab_found=login-shell; fi
    login_env scheduler "${2:-}"
}

# module_init: define `module` in this sh when the login shell's startup is what defines it
# (Lmod, Environment Modules): their variables from a login shell, then the site's init/sh.
# shellcheck disable=SC2317
module_init() {
    if command -v module >/dev/null 2>&1; then return 0; fi
    login_env modules || true
    for hoplab_init in "${LMOD_PKG:-}/init/sh" "${MODULESHOME:-}/init/sh" \
        /usr/share/lmod/lmod/init/sh /usr/share/Modules/init/sh /etc/profile.d/modules.sh; do
        case $hoplab_init in /init/sh) continue ;; esac
        if [ -r "$hoplab_init" ]; then
            # shellcheck source=/dev/null
            . "$hoplab_init" >/dev/null 2>&1 && break
        fi
    done
    command -v module >/dev/null 2>&1
}

# conda_init: define `conda` in this sh when only an interactive shell's startup does (`conda
# init` writes its block after .bashrc's "not interactive: return"): conda as $CONDA_EXE names
# it, on the PATH, or in the prefixes its installers use; then conda's own `shell.posix hook`.
# shellcheck disable=SC2317
conda_init() {
    for hoplab_conda in "${CONDA_EXE:-}" "$(command -v conda 2>/dev/null)" \
        "$HOME/miniforge3/bin/conda" "$HOME/mambaforge/bin/conda" \
        "$HOME/miniconda3/bin/conda" "$HOME/anaconda3/bin/conda" \
        /opt/conda/bin/conda /opt/miniforge3/bin/conda /opt/miniconda3/bin/conda \
        /opt/anaconda3/bin/conda; do
        case $hoplab_conda in /*) ;; *) continue ;; esac
        if [ -x "$hoplab_conda" ]; then
            hoplab_hook=$("$hoplab_conda" shell.posix hook) || return 1
            eval "$hoplab_hook"
            return 0
        fi
    done
    return 1
}
