#!/usr/bin/env bash
# Run the test stages in order and finish with one summary line.
#
# Usage: run-tests.sh [STAGE...]   (default: every stage)
# Stages, cheapest first: unit changelog docs lint galaxy molecule sanity
# units system integration
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
export ANSIBLE_COLLECTIONS_PATH="$collections_dir"
# kubernetes.core writes discovery caches to the temporary directory.
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/pko-airgap-tests.XXXXXX")
export TMPDIR
tests_tmp=$TMPDIR

# Stop whatever local default a stage left running, for instance after
# Ctrl-C, then remove the temporary directory.
# shellcheck disable=SC2317  # the EXIT trap calls it
cleanup() {
  local state
  for state in "$tests_tmp"/*/state.json "$tests_tmp"/*/*/state.json; do
    [ -f "$state" ] && localenv_down "$(dirname "$state")"
  done
  rm -rf "$tests_tmp"
}
trap cleanup EXIT

# Start the local default with CLUSTERS control planes in STATE_DIR, source
# its skopeo settings and write its variables to STATE_DIR/test-config.yml.
# The repository's tests/integration/integration_config.yml stays untouched.
localenv_up() {
  local state_dir=$1 clusters=$2
  "$python" -m localenv up --state-dir "$state_dir" --clusters "$clusters" \
    --no-integration-config || return 1
  # shellcheck disable=SC1091
  source "$state_dir/env.sh"
  "$python" - "$state_dir" <<'EOF'
import json
import os
import sys

import yaml

state_dir = sys.argv[1]
with open(os.path.join(state_dir, "state.json"), encoding="utf-8") as handle:
    config = json.load(handle)["test_config"]
with open(os.path.join(state_dir, "test-config.yml"), "w", encoding="utf-8") as handle:
    yaml.safe_dump(config, handle, sort_keys=False)
EOF
}

localenv_down() {
  "$python" -m localenv down --state-dir "$1"
}

# Print PATH for ansible-test: DIR (see hack/python-interpreters.sh) first and
# without pyenv's shims, whose versions that are not selected fail to run.
ansible_test_path() {
  local dir=$1
  printf '%s' "$dir:"
  printf '%s' "$PATH" | tr ':' '\n' | grep -v 'pyenv/shims$' | paste -sd: -
}

# Prepare ansible-test: an offline get-pip stand-in, the Python interpreters
# it may use, and a copy of the collection outside git. Prints the copy's path.
ansible_test_prepare() {
  local name=$1 pythons
  hack/ansible-test-get-pip.sh "$python" >&2 || return 1
  pythons=$(hack/python-interpreters.sh "$TMPDIR/pythons") || return 1
  echo "Python versions that ansible-test finds: $(echo "$pythons" | paste -sd' ' -)" >&2
  hack/ansible-test-tree.sh "$TMPDIR/$name" "$collections_dir"
}

stage_unit() {
  # test_docs.py runs in the docs stage.
  "$python" -m pytest -q -p no:cacheprovider tests/unit --ignore=tests/unit/test_docs.py
}

stage_changelog() {
  local copy
  antsibull-changelog lint || return 1
  antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml || return 1

  # CHANGELOG.rst must be what changelogs/changelog.yaml generates.
  copy="$TMPDIR/changelog"
  mkdir -p "$copy"
  cp -r galaxy.yml changelogs CHANGELOG.rst "$copy/" || return 1
  (cd "$copy" && antsibull-changelog generate) || return 1
  if ! diff -u CHANGELOG.rst "$copy/CHANGELOG.rst"; then
    echo "CHANGELOG.rst is out of date: run antsibull-changelog generate" >&2
    return 1
  fi
}

stage_docs() {
  antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all \
    --disallow-unknown-collection-refs . || return 1
  "$python" -m pytest -q -p no:cacheprovider tests/unit/test_docs.py
}

stage_lint() {
  ansible-lint --nocolor
}

# Build the collection, install the tarball into a fresh path next to a copy
# of kubernetes.core, and bootstrap the local default twice from that copy.
stage_galaxy() {
  local work="$TMPDIR/galaxy" tarball installed status=0
  mkdir -p "$work/build" "$work/run"
  ansible-galaxy collection build --output-path "$work/build" . || return 1
  tarball=$(echo "$work"/build/pko-airgap-*.tar.gz)
  if tar -tzf "$tarball" | grep -E '^(\.cache|\.venv|tests/localenv|tests/output|benchmarks)/'; then
    echo "$tarball contains the files above, which build_ignore in galaxy.yml should leave out" >&2
    return 1
  fi

  installed="$work/collections"
  localenv_up "$work/localenv" 1 || { localenv_down "$work/localenv"; return 1; }
  # Outside the checkout, without ANSIBLE_CONFIG and with only the fresh
  # path, so that neither the repository's ansible.cfg nor its collection
  # link can be used.
  (
    cd "$work/run" || exit 1
    export ANSIBLE_COLLECTIONS_PATH="$installed" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
    unset ANSIBLE_CONFIG
    ansible-galaxy collection install --no-deps -p "$installed" "$tarball" || exit 1
    cp -r "$collections_dir/ansible_collections/kubernetes" "$installed/ansible_collections/" || exit 1
    ansible-galaxy collection list pko.airgap | grep -F "$installed/ansible_collections" || {
      echo "pko.airgap is not installed in $installed" >&2
      exit 1
    }
    ansible-playbook pko.airgap.bootstrap -e @"$work/localenv/bootstrap-vars.yml" || exit 1
    ansible-playbook pko.airgap.bootstrap -e @"$work/localenv/bootstrap-vars.yml" | tee second.log
    [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
    grep -E '^localhost +: .* changed=0 ' second.log >/dev/null || {
      echo "the second run from the installed collection changed something" >&2
      exit 1
    }
  ) || status=1
  localenv_down "$work/localenv"
  return "$status"
}

stage_molecule() {
  local work="$TMPDIR/molecule" status=0
  mkdir -p "$work/role"
  localenv_up "$work/localenv" 1 || { localenv_down "$work/localenv"; return 1; }
  (
    cd extensions || exit 1
    PKO_AIRGAP_TEST_CONFIG="$work/localenv/test-config.yml" \
      PKO_AIRGAP_MOLECULE_WORK_DIR="$work/role" \
      PKO_AIRGAP_MOLECULE_PREFIX="molecule-$(date +%s%N)" \
      molecule test -s integration_bootstrap
  ) || status=1
  localenv_down "$work/localenv"
  return "$status"
}

stage_sanity() {
  local tree pythons_dir="$TMPDIR/pythons"
  tree=$(ansible_test_prepare ansible-test-sanity) || return 1
  (cd "$tree" && PATH=$(ansible_test_path "$pythons_dir") ansible-test sanity --venv --color no)
}

stage_units() {
  local tree pythons_dir="$TMPDIR/pythons"
  tree=$(ansible_test_prepare ansible-test-units) || return 1
  (cd "$tree" && PATH=$(ansible_test_path "$pythons_dir") ansible-test units --venv --color no)
}

stage_system() {
  "$python" -m pytest -q -p no:cacheprovider tests/system
}

stage_integration() {
  local state_dir="$TMPDIR/localenv-integration" tree status=0
  localenv_up "$state_dir" 3 || { localenv_down "$state_dir"; return 1; }
  tree=$(hack/ansible-test-tree.sh "$TMPDIR/ansible-test-integration" "$collections_dir") || {
    localenv_down "$state_dir"
    return 1
  }
  cp "$state_dir/test-config.yml" "$tree/tests/integration/integration_config.yml"
  (cd "$tree" && ansible-test integration --local --python 3.11 --color no -v) || status=1
  localenv_down "$state_dir"
  return "$status"
}

run_stage() {
  case "$1" in
    unit) stage_unit ;;
    changelog) stage_changelog ;;
    docs) stage_docs ;;
    lint) stage_lint ;;
    galaxy) stage_galaxy ;;
    molecule) stage_molecule ;;
    sanity) stage_sanity ;;
    units) stage_units ;;
    system) stage_system ;;
    integration) stage_integration ;;
  esac
}

all_stages=(unit changelog docs lint galaxy molecule sanity units system integration)
if [ "$#" -gt 0 ]; then
  stages=("$@")
else
  stages=("${all_stages[@]}")
fi

passed=()
failed=()
timings=()
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
  timings+=("$stage $(($(date +%s) - stage_started))s")
done

elapsed=$(($(date +%s) - started))
echo "stage times: $(printf '%s, ' "${timings[@]}" | sed 's/, $//')"
if [ "${#failed[@]}" -eq 0 ]; then
  echo "pko.airgap tests: ${#passed[@]} of ${#stages[@]} stages passed (${passed[*]}) in ${elapsed} s"
  exit 0
fi
echo "pko.airgap tests: ${#failed[@]} of ${#stages[@]} stages FAILED (${failed[*]}); passed: ${passed[*]:-none}; ${elapsed} s"
exit 1
