#!/usr/bin/env bash
# Tests the apply role on the first local control plane. It covers check
# mode, a real run and an idempotent re-run, and an upgrade that replaces the
# finished Job. A running Job is kept unless replacing it is allowed, and
# objects that the API server rejects stop the role. The test controller
# finishes every Job it handles, so the running Job is put in a namespace
# that the controller does not watch.
set -euo pipefail

export ANSIBLE_ROLES_PATH=..
# shellcheck source=../setup_pko_cluster/files/playbook.sh
source ../setup_pko_cluster/files/playbook.sh

work=$(mktemp -d)
old=$(grep '^pko_airgap_test_pko_version:' ../../integration_config.yml | awk '{print $2}')
new=$(grep '^pko_airgap_test_pko_upgrade_version:' ../../integration_config.yml | awk '{print $2}')
common=(-i "$INVENTORY_PATH" -e @../../integration_config.yml -e "work_dir=$work"
  -e "mirror_prefix=role-apply-$(date +%s%N)" "$@")

cleanup() {
  ansible-playbook "${common[@]}" cleanup.yml
  rm -rf "$work"
}
trap cleanup EXIT

ansible-playbook "${common[@]}" prepare.yml

# Check mode predicts changes and writes nothing.
run_playbook "$work/check.log" "${common[@]}" apply.yml --check \
  -e "manifest=release-$old.yaml" -e expected_job_action=created
assert_changed_more "$work/check.log" testhost
ansible-playbook "${common[@]}" check.yml -e check=untouched

# A real run, then a re-run that changes nothing.
ansible-playbook "${common[@]}" apply.yml -e "manifest=release-$old.yaml" -e expected_job_action=created
ansible-playbook "${common[@]}" check.yml -e check=bootstrapped -e "version=$old"
run_playbook "$work/again.log" "${common[@]}" apply.yml -e "manifest=release-$old.yaml" -e expected_job_action=skipped
assert_changed "$work/again.log" testhost 0

# The upgrade deletes the finished Job of the old version and creates the new one.
ansible-playbook "${common[@]}" apply.yml -e "manifest=release-$new.yaml" -e expected_job_action=replaced
ansible-playbook "${common[@]}" check.yml -e check=bootstrapped -e "version=$new"
run_playbook "$work/upgraded.log" "${common[@]}" apply.yml -e "manifest=release-$new.yaml" -e expected_job_action=skipped
assert_changed "$work/upgraded.log" testhost 0

# A running Job for another image is kept, unless replacing it is allowed.
running=(-e pko_airgap_apply_job_namespace=pko-airgap-it-running
  -e pko_airgap_apply_cluster_package=pko-airgap-it-absent)
ansible-playbook "${common[@]}" apply.yml "${running[@]}" -e "manifest=running-$old.yaml" -e expected_job_action=created
ansible-playbook "${common[@]}" check.yml -e check=running -e "version=$old" -e record_uid=true
mirror=$(grep '^pko_airgap_test_mirror_registry:' ../../integration_config.yml | awk '{print $2}')
prefix=$(printf '%s\n' "${common[@]}" | sed -n 's/^mirror_prefix=//p')
expected="Job pko-airgap-it-running/package-operator-bootstrap is still running and bootstraps"
expected+=" $mirror/$prefix/package-operator-package:$old, not $mirror/$prefix/package-operator-package:$new."
expected+=" Wait for it to finish, or set pko_airgap_apply_replace_running_job=true to delete it."
ansible-playbook "${common[@]}" apply.yml "${running[@]}" -e "manifest=running-$new.yaml" \
  -e "$(json_vars expected_failed_task 'Refuse to replace a running bootstrap Job' expected_failure "$expected")"
ansible-playbook "${common[@]}" check.yml -e check=running -e "version=$old"
ansible-playbook "${common[@]}" apply.yml "${running[@]}" -e "manifest=running-$new.yaml" \
  -e pko_airgap_apply_replace_running_job=true -e expected_job_action=replaced
ansible-playbook "${common[@]}" check.yml -e check=running -e "version=$new" -e replaced=true

# An object that the API server rejects stops the role before anything is written...
ansible-playbook "${common[@]}" reset.yml
ansible-playbook "${common[@]}" apply.yml -e manifest=invalid-cluster-scoped.yaml \
  -e "$(json_vars expected_failed_task 'Validate the objects with a server-side dry run' \
    expected_failure_pattern 'roleRef.kind: Unsupported value: \W*Secret')"
ansible-playbook "${common[@]}" check.yml -e check=untouched

# ...except the manifest's own Namespaces when the rejected object is in one of them.
ansible-playbook "${common[@]}" apply.yml -e manifest=invalid-namespaced.yaml \
  -e "$(json_vars expected_failed_task 'Validate the objects in the new namespaces with a server-side dry run' \
    expected_failure_pattern 'spec.backoffLimit: Invalid value: -1')"
ansible-playbook "${common[@]}" check.yml -e check=only_namespace
