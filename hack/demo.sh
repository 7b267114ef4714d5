#!/usr/bin/env bash
# Run the bootstrap playbook against the local default: registries and a
# control plane on 127.0.0.1, started here and stopped on exit.
#
# The playbook runs twice; the second run must report changed=0.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${VENV_PYTHON:-$root/.venv/bin/python}
state_dir=${PKO_AIRGAP_DEMO_DIR:-$root/.cache/demo}

export PYTHONPATH="$root/tests${PYTHONPATH:+:$PYTHONPATH}"
cd "$root"

stop_local_default() {
  "$python" -m localenv down --state-dir "$state_dir" || true
}
trap stop_local_default EXIT

rm -rf "$state_dir"
"$python" -m localenv up --state-dir "$state_dir" --no-integration-config

for run in 1 2; do
  echo
  echo "=== ansible-playbook playbooks/bootstrap.yml (run $run of 2)"
  log="$state_dir/bootstrap-run-$run.log"
  ansible-playbook playbooks/bootstrap.yml -e "@$state_dir/bootstrap-vars.yml" 2>&1 | tee "$log"
done

if ! grep -Eq 'localhost +: ok=[0-9]+ +changed=0 ' "$state_dir/bootstrap-run-2.log"; then
  echo "error: the second run changed something; see $state_dir/bootstrap-run-2.log" >&2
  exit 1
fi
echo
echo "Demo passed: Package Operator was bootstrapped from the local mirror, and the second run changed nothing."
