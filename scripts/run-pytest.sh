#!/usr/bin/env bash
# Run the test suite headless. pytest's exit code 5 ("no tests were collected")
# counts as a failure: a suite that silently collects nothing must not pass.
set -uo pipefail
cd "$(dirname "$0")/.."

export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
PYTEST="${PYTEST:-.venv/bin/pytest}"

"$PYTEST" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "run-pytest: no tests were collected (pytest exit code 5); treating this as a failure" >&2
    exit 1
fi
exit "$rc"
