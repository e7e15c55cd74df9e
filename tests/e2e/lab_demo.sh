#!/usr/bin/env bash
# make demo's laboratory, as the test suite runs it: same script (--small:
# shorter traffic runs), its own directory and namespace prefix so that it
# never meets a kept demo.
set -u
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
dir=$(mktemp -d /tmp/tern-labtest.XXXXXX)
rmdir "$dir"
LAB_OUT=$dir-out LAB_DIR=$dir LAB_PREFIX="lt$(printf '%x' $(( $$ % 65536 )))-" bash tests/lab/demo.sh --small
rc=$?
# the summary must be valid JSON that agrees with the run
/usr/bin/python3 - "$dir-out/summary.json" "$rc" <<'PY' || rc=1
import json, sys
s = json.load(open(sys.argv[1]))
assert len(s["hosts"]) == 5 and len(s["pods"]) >= 7, "summary lists the hosts and pods"
assert s["bgp_sessions"] and all(b["state"] == "Established" for b in s["bgp_sessions"]), "every BGP session up"
assert s["failed"] == 0 or sys.argv[2] != "0", "summary failures agree with the exit code"
assert s["services"][0]["vip"] and "red-dc" in s["services"][0]["runs"], "the service and its runs"
assert all(c["result"] in ("PASS", "FAIL") for c in s["checks"]) and s["checks"]
PY
if command -v dot >/dev/null; then test -s "$dir-out/topology.svg" -a -s "$dir-out/topology.png" || rc=1; fi
if [ "$rc" -ne 0 ] && [ -d "$dir-out/logs" ]; then # what went wrong, as the processes logged it
	echo "--- warnings and errors the lab's processes logged:"
	grep -rh -E ' (WARN|ERROR|FATAL) ' "$dir-out/logs" | sort | tail -25
	for f in "$dir-out"/logs/vrouter-*.log "$dir-out"/logs/*.txt; do
		[ -f "$f" ] && { echo "--- the end of $(basename "$f"):"; tail -4 "$f"; }
	done
fi
rm -rf "$dir-out"
exit $rc
