#!/bin/sh
# What `docker run femnn ...` runs (ENTRYPOINT of docker/Dockerfile):
#   no arguments             femnn validate --out /out
#   a program on PATH first  run as-is: mpiexec -n 4 femnn validate --out /out, python, bash, femnn itself
#   anything else            a femnn command line: build fig1 --out /out/part, --version, check fig1
# Writing `femnn` first always works, should a subcommand ever share its name with a program.
set -eu

# `--user UID:GID` may name a user with no home (docker then sets HOME=/). matplotlib, fontconfig and DOLFINx's
# form cache (XDG_CACHE_HOME/fenics) need a writable one; the image itself stays read-only.
if [ -z "${HOME:-}" ] || [ "$HOME" = / ] || ! [ -w "$HOME" ]; then
    HOME="${TMPDIR:-/tmp}/femnn-home-$(id -u)"
    export HOME
fi
mkdir -p "$HOME"
: "${MPLCONFIGDIR:=$HOME/.config/matplotlib}" "${XDG_CACHE_HOME:=$HOME/.cache}"
export MPLCONFIGDIR XDG_CACHE_HOME

on_path() {  # an executable file on PATH (not a shell builtin: `command -v export` would say yes)
    case $1 in */*) [ -f "$1" ] && [ -x "$1" ]; return ;; esac
    (
        IFS=:
        for d in $PATH; do [ -f "$d/$1" ] && [ -x "$d/$1" ] && exit 0; done
        exit 1
    )
}

if [ $# -eq 0 ]; then
    set -- femnn validate --out /out
elif ! on_path "$1"; then
    set -- femnn "$@"
fi
exec "$@"
