#!/usr/bin/env bash
# femnn's one set-up path (README, .ci/run and docker/Dockerfile all call it).
# Finds Python >= 3.12 (PATH first, then pyenv), builds .venv beside this script and installs
# femnn with the pinned stack from requirements.txt. Re-running it is cheap: it does nothing
# when .venv already matches requirements.txt and pyproject.toml.
#   ./setup.sh --deps-only   the pinned stack without femnn itself and without the stamp, so the
#                            next plain run finishes the job (docker/Dockerfile puts the stack in a
#                            layer of its own: a code change then does not download it again)
#   ./setup.sh --no-test-extras   without the test-only extras of requirements-test.txt (the image)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${FEMNN_VENV:-$here/.venv}"
deps_only=0
test_extras=1
for arg in "$@"; do
  case "$arg" in
    --deps-only) deps_only=1 ;;
    --no-test-extras) test_extras=0 ;;
    *) echo "setup.sh: unknown option '$arg' (options: --deps-only, --no-test-extras)" >&2; exit 2 ;;
  esac
done

usable() {  # a real interpreter >= 3.12 (pyenv shims exist on PATH even when they cannot run)
  "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}
find_python() {
  local c
  for c in ${FEMNN_PYTHON:-} python3.12 python3.13 python3; do
    if command -v "$c" >/dev/null 2>&1 && usable "$(command -v "$c")"; then command -v "$c"; return 0; fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for c in $(ls -d "$(pyenv root)"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V -r); do
      if usable "$c"; then echo "$c"; return 0; fi
    done
  fi
  return 1
}

stamp_src="$( (cat "$here/requirements.txt" "$here/pyproject.toml"; [ "$test_extras" = 0 ] || cat "$here/requirements-test.txt") | sha256sum | cut -c1-16)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.femnn-stamp" 2>/dev/null)" = "$stamp_src" ]; then
  exit 0
fi
py="$(find_python)" || { echo "setup.sh: no Python >= 3.12 found on PATH or in pyenv; install one (e.g. 'pyenv install 3.12') or set FEMNN_PYTHON" >&2; exit 2; }
echo "setup.sh: using $py ($("$py" --version 2>&1)) -> $venv" >&2
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pipq() {  # quiet pip; drop the "Location ... is ignored" noise some pip configs print
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2)
}
pipq -r "$here/requirements.txt"
if [ "$test_extras" = 1 ]; then pipq --no-deps -r "$here/requirements-test.txt"; fi
if [ "$deps_only" = 1 ]; then echo "setup.sh: pinned stack ready in $venv (--deps-only: femnn itself not installed)" >&2; exit 0; fi
pipq --no-deps --no-build-isolation -e "$here"
echo "$stamp_src" > "$venv/.femnn-stamp"
echo "setup.sh: ready ($("$venv/bin/femnn" --version))" >&2
