#!/usr/bin/env bash
# Tests the bootstrap role through the whole chain on the first local control
# plane: bad input, check mode, a real run and a second run with changed=0. Then
# playbooks/fleet.yml bootstraps all three control planes, twice.
set -euo pipefail

export ANSIBLE_ROLES_PATH=..
# shellcheck source=../setup_pko_cluster/files/playbook.sh
source ../setup_pko_cluster/files/playbook.sh

work=$(mktemp -d)
common=(-e @../../integration_config.yml -e "work_dir=$work"
  -e "mirror_prefix=role-bootstrap-$(date +%s%N)" "$@")
single=(-i "$INVENTORY_PATH" "${common[@]}")

cleanup() {
  ansible-playbook "${single[@]}" cleanup.yml
  rm -rf "$work"
}
trap cleanup EXIT

ansible-playbook "${single[@]}" bad-input.yml

run_playbook "$work/check.log" "${single[@]}" converge.yml --check
assert_changed_more "$work/check.log" testhost
ansible-playbook "${single[@]}" ../setup_pko_cluster/absent.yml

ansible-playbook "${single[@]}" converge.yml
ansible-playbook "${single[@]}" verify.yml
run_playbook "$work/again.log" "${single[@]}" converge.yml
assert_changed "$work/again.log" testhost 0

# The fleet playbook reads the bootstrap variables from the inventory, so
# the extra variables that would override a host's kubeconfig stay out.
ansible-playbook "${single[@]}" ../setup_pko_cluster/reset.yml
fleet=(-i fleet-inventory.yml -e @vars.yml "${common[@]}")
ansible-playbook "${fleet[@]}" pko.airgap.fleet
ansible-playbook "${single[@]}" verify.yml -e '{"kubeconfigs": "{{ pko_airgap_test_kubeconfigs }}"}'
run_playbook "$work/fleet-again.log" "${fleet[@]}" pko.airgap.fleet
for host in cluster1 cluster2 cluster3; do
  assert_changed "$work/fleet-again.log" "$host" 0
done
