# .ci/lib.sh: what the CI scripts share (sourced by .ci/run, .ci/sanitize,
# .ci/fuzz, .ci/lint, .ci/coverage, .ci/debug-python, .ci/docs and
# .ci/package; never run on its own).  It moves to the repository's root, and gives:
#
#   need_cmd CMD PACKAGE   queue PACKAGE for apt when CMD is not on PATH
#   need_venv              queue python3-venv when python3 cannot make one
#   need_python_headers    queue python3-dev when Python.h is missing
#   install_needed         apt-get install whatever was queued (if any)
#   enter_venv DIR [PIP-ARGS...]
#                          create DIR if missing, activate it, upgrade pip
#                          and pip install PIP-ARGS
# shellcheck shell=bash
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PIP_DISABLE_PIP_VERSION_CHECK=1
export DEBIAN_FRONTEND=noninteractive

need=()

need_cmd() {
    command -v "$1" >/dev/null 2>&1 || need+=("$2")
}

need_venv() {
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
}

need_python_headers() {
    python3 - <<'PY' || need+=(python3-dev)
import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("include"), "Python.h")))
PY
}

install_needed() {
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq
        apt-get install -y -qq "${need[@]}" >/dev/null
        need=()
    fi
}

enter_venv() {
    local dir="$1"
    shift
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
    # shellcheck disable=SC1091
    . "$dir/bin/activate"
    python -m pip install -q --upgrade pip
    if [ $# -gt 0 ]; then
        python -m pip install -q "$@"
    fi
}
