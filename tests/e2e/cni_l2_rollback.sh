#!/usr/bin/env bash
# tests/e2e/cni_l2_rollback.sh — an ADD on L2 networks is all or nothing when
# the vrouter refuses one of the L2 objects written in a port's pipeline.
# One host (tern-api, tern-vrouter, tern-agent; no controller). A pod with
# three interfaces on three new l2 networks (MPLSoUDP: each port gets its
# vif, nexthop, routes, label, bridge entry, L2 nexthop and label; each
# network a flood nexthop, flood label and the VRF object naming it). The
# nexthop id the agent will take for the third network's flood nexthop is
# held beforehand by another nexthop type, in use (a label points at it), so
# the vrouter refuses that request in the middle of the third port's
# pipeline. Checks: the ADD fails with code 100 naming net2 and the flood
# nexthop; nothing of the pod stays (vifs, labels, nexthops, bridge entries,
# VRFs, veths); the id's owner is left alone; the same ADD succeeds once the
# id is free, with a flood nexthop per network and every label.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
BUILD=${BUILD:-build}
source tests/lib/agentlab.sh
tl_init
command -v curl >/dev/null || tl_skip "no curl"
PY=/usr/bin/python3

al_init
al_host h1 0 10.255.0.1 10.254.0.11
{
	printf 'kind: project\nname: demo\n'
	for n in a b c; do
		printf -- '---\nkind: virtual-network\nproject: demo\nname: l2%s\nforwarding_mode: l2\n' "$n"
		printf 'encapsulation: [MPLSoUDP]\nsubnets: [{cidr: "10.9%s.0.0/24"}]\n' "$(printf '%d' "'$n" | awk '{print $1 - 96}')"
	done
} | al_apply || tl_fail "cannot create the networks in tern-api"
AL_CTRL[h1]=127.0.0.1  # no controller: nothing else allocates nexthops meanwhile
al_agent h1
vr1() { "$VL_CTL" --socket "$TL_DIR/h1/ctl.sock" "$@"; }
snapshot() { # every vif, nexthop, label, VRF and bridge entry of h1's vrouter
	vr1 vr vif list | awk '{print $1, $2, $3, $4, $5}'  # not the packet counters
	vr1 vr nh list
	vr1 vr mpls list
	vr1 vr vrf list
	local v
	for v in 1 2 3 4 5 6; do vr1 vr bridge list --vrf "$v" 2>/dev/null; done
}
hostlinks() { ip -n "${VL_NS[h1]}" -o link show | grep -c ' tn'; }

# The agent takes the lowest free nexthop ids: per port its own, then its L2
# one; per new network a flood nexthop after them. The third port's flood
# nexthop is the 9th free id.
X=$(vr1 vr nh list -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
d = next((d[k] for k in ("items", "nexthops", "objects") if isinstance(d, dict) and k in d), d)
used = {n["id"] for n in d}
free = [i for i in range(2, 65536) if i not in used]
print(free[8])')
vr1 vr nh add "$X" --type discard >/dev/null || tl_fail "cannot add nexthop $X"
vr1 vr mpls add 999 --nh "$X" >/dev/null || tl_fail "cannot add label 999"
snapshot >"$TL_DIR/before"
links=$(hostlinks)

P=$(tl_netns p1)
ann="l2b, l2c"
out=$(al_cni h1 ADD cid-p1 "$P" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p1" <<<"$(al_netconf h1 l2a "$ann")")
rc=$?
tl_log "ADD with nexthop $X taken: rc $rc: $(tr -d '\n' <<<"$out")"
tl_check "the ADD fails" test "$rc" -ne 0
tl_check "with code 100 (vrouter refused), naming net2 and the flood nexthop $X" \
	"$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(not (r["code"] == 100 and "net2" in r["msg"] and "flood nexthop '"$X"'" in r["msg"]))' "$out"
snapshot >"$TL_DIR/after"
if ! cmp -s "$TL_DIR/before" "$TL_DIR/after"; then
	diff "$TL_DIR/before" "$TL_DIR/after"
	tl_fail "the failed ADD left objects in the vrouter"
fi
tl_log "PASS nothing of the failed ADD stays in the vrouter (vifs, nexthops, labels, VRFs, bridge entries); nexthop $X and label 999 untouched"
tl_check "no veth of the pod stays on the node" test "$(hostlinks)" -eq "$links"
tl_check "no interface stays in the pod" bash -c "! ip -n $P -o link show | grep -qv ' lo:'"
al_cni h1 DEL cid-p1 "$P" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p1" <<<"$(al_netconf h1 l2a "$ann")" >/dev/null ||
	tl_fail "DEL after the failed ADD failed"

# The id freed: the same ADD goes through.
vr1 vr mpls del 999 >/dev/null && vr1 vr nh del "$X" >/dev/null || tl_fail "cannot free nexthop $X"
out=$(al_cni h1 ADD cid-p1 "$P" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p1" <<<"$(al_netconf h1 l2a "$ann")") ||
	tl_fail "ADD once the id is free: $out"
tl_log "PASS the same ADD succeeds once nexthop $X is free"
flood_ok() { # three L2 VRFs, each with a flood nexthop holding its port
	vr1 vr vrf list -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
d = next((d[k] for k in ("items", "vrfs", "objects") if isinstance(d, dict) and k in d), d)
assert len([v for v in d if v.get("flood_nh")]) == 3, d'
}
tl_check "its three L2 VRFs have their flood nexthops" flood_ok
tl_check "three L2 labels and three flood labels besides the ports' own" \
	test "$(vr1 vr mpls list -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
d = next((d[k] for k in ("items", "labels", "objects") if isinstance(d, dict) and k in d), d)
print(len(d))')" -eq 9
tl_log "cni_l2_rollback: all checks passed"
exit 0
