#!/usr/bin/env bash
# Run the test stages in order and finish with one summary line.
#
# Usage: run-tests.sh [STAGE...]   (default: every stage)
# Stages: unit system integration
# Each stage's output goes to the terminal and to .cache/test-logs/STAGE.log.
# The local servers that a stage starts are stopped when it ends.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
python=${VENV_PYTHON:-$root/.venv/bin/python}
collections_dir=${ANSIBLE_COLLECTIONS_PATH:-$root/.cache/collections}
log_dir=$root/.cache/test-logs
mkdir -p "$log_dir"

export PYTHONPATH="$root/tests${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$root/.venv/bin:$PATH"
# kubernetes.core writes discovery caches to the temporary directory.
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/pko-airgap-tests.XXXXXX")
export TMPDIR

stage_unit() {
  "$python" -m pytest -q -p no:cacheprovider tests/unit
}

stage_system() {
  "$python" -m pytest -q -p no:cacheprovider tests/system
}

stage_integration() {
  local state_dir tree status
  state_dir="$TMPDIR/localenv"
  "$python" -m localenv up --state-dir "$state_dir" --clusters 3 || return 1
  # shellcheck disable=SC1091
  source "$state_dir/env.sh"
  tree=$(hack/ansible-test-tree.sh "$TMPDIR/ansible-test" "$collections_dir") || {
    "$python" -m localenv down --state-dir "$state_dir"
    return 1
  }
  (cd "$tree" && ansible-test integration --local --python 3.11 --color no -v)
  status=$?
  "$python" -m localenv down --state-dir "$state_dir"
  return "$status"
}

run_stage() {
  case "$1" in
    unit) stage_unit ;;
    system) stage_system ;;
    integration) stage_integration ;;
  esac
}

all_stages=(unit system integration)
if [ "$#" -gt 0 ]; then
  stages=("$@")
else
  stages=("${all_stages[@]}")
fi

passed=()
failed=()
started=$(date +%s)
for stage in "${stages[@]}"; do
  if [[ " ${all_stages[*]} " != *" $stage "* ]]; then
    echo "error: unknown stage '$stage'; stages are: ${all_stages[*]}" >&2
    exit 2
  fi
  echo "=== stage $stage"
  stage_started=$(date +%s)
  if run_stage "$stage" 2>&1 | tee "$log_dir/$stage.log"; then
    passed+=("$stage")
    echo "=== stage $stage passed in $(($(date +%s) - stage_started)) s"
  else
    failed+=("$stage")
    echo "=== stage $stage FAILED after $(($(date +%s) - stage_started)) s (log: $log_dir/$stage.log)"
  fi
done

rm -rf "$TMPDIR"
elapsed=$(($(date +%s) - started))
if [ "${#failed[@]}" -eq 0 ]; then
  echo "pko.airgap tests: ${#passed[@]} of ${#stages[@]} stages passed (${passed[*]}) in ${elapsed} s"
  exit 0
fi
echo "pko.airgap tests: ${#failed[@]} of ${#stages[@]} stages FAILED (${failed[*]}); passed: ${passed[*]:-none}; ${elapsed} s"
exit 1
