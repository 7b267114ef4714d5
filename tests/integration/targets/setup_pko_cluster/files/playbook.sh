# shellcheck shell=bash
# Helpers for runme.sh targets that check a play's recap. Source this file.

# run_playbook LOG ARGS...: run ansible-playbook ARGS, show its output and
# keep a copy in LOG, and fail when the playbook fails.
run_playbook() {
  local log=$1
  shift
  ansible-playbook "$@" 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}

# assert_changed LOG HOST COUNT: fail unless the play recap of LOG reports
# changed=COUNT for HOST.
assert_changed() {
  local log=$1 host=$2 expected=$3 actual
  actual=$(sed -n "s/^$host  *: .* changed=\([0-9][0-9]*\) .*/\1/p" "$log" | tail -n 1)
  if [ "$actual" != "$expected" ]; then
    echo "expected changed=$expected for $host in $log, found changed=${actual:-nothing}" >&2
    return 1
  fi
}

# assert_changed_more LOG HOST: fail unless the recap of LOG reports
# changed=1 or more for HOST, as check mode must when it predicts changes.
assert_changed_more() {
  local log=$1 host=$2 actual
  actual=$(sed -n "s/^$host  *: .* changed=\([0-9][0-9]*\) .*/\1/p" "$log" | tail -n 1)
  if [ -z "$actual" ] || [ "$actual" -eq 0 ]; then
    echo "expected changed=1 or more for $host in $log, found changed=${actual:-nothing}" >&2
    return 1
  fi
}

# json_vars KEY VALUE...: print the pairs as a JSON object for
# ansible-playbook -e, which splits key=value arguments at spaces.
json_vars() {
  python3 -c 'import json, sys; args = iter(sys.argv[1:]); print(json.dumps(dict(zip(args, args))))' "$@"
}
