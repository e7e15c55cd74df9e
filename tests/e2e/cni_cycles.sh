#!/usr/bin/env bash
# tests/e2e/cni_cycles.sh — no leak: 200 ADD/DEL cycles of a pod with two
# interfaces (the agent makes them in tern-api from the annotation) leave no
# veth, vif, nexthop, label, route, socket directory or tern-api object
# behind, and the last pod still gets the first addresses of the pools.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
BUILD=${BUILD:-build}
source tests/lib/agentlab.sh
tl_init
command -v curl >/dev/null || tl_skip "no curl"
CYCLES=${CNI_CYCLES:-200}

al_init
al_host h1 0 10.255.0.1 10.254.0.11
al_networks red=10.1.0.0/24 blue=10.2.0.0/24
al_agent h1
cnt() { vl_ctl h1 "$@" -o json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo 0; }
api_cnt() { al_ctl get "$1" -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d.get("items", d) if isinstance(d, dict) else d))'; }
snapshot() { # what the node and tern-api hold
	printf 'links=%s vifs=%s nhs=%s labels=%s routes=%s+%s+%s dirs=%s vmis=%s iips=%s\n' \
		"$(ip -n "${VL_NS[h1]}" -o link show | grep -c ' tn')" "$(cnt vr vif list)" \
		"$(cnt vr nh list)" "$(cnt vr mpls list)" "$(cnt vr route list --vrf 1)" \
		"$(cnt vr route list --vrf 2)" "$(cnt vr route list --vrf 3)" \
		"$(ls "$TL_DIR/h1/pods" 2>/dev/null | wc -l)" "$(api_cnt vmi)" "$(api_cnt iip)"
}
base=$(snapshot)
tl_log "before: $base"
P=$(tl_netns pod)
start=$(date +%s%N)
fails=0
for ((i = 1; i <= CYCLES; i++)); do
	if ! out=$(al_cni h1 ADD "cid-$i" "$P" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=pod$i" \
		<<<"$(al_netconf h1 red blue)" 2>&1); then
		fails=$((fails + 1)); echo "cycle $i ADD: $out" >&2
	fi
	if ! out=$(al_cni h1 DEL "cid-$i" "$P" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=pod$i" \
		<<<"$(al_netconf h1 red blue)" 2>&1); then
		fails=$((fails + 1)); echo "cycle $i DEL: $out" >&2
	fi
done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
tl_log "$CYCLES cycles in $ms ms"
tl_check "$CYCLES ADD/DEL cycles of a 2-interface pod, every call succeeded ($fails failed)" test "$fails" -eq 0
# The first cycle made VRFs that the last DEL released: compare with before.
sleep 0.5
after=$(snapshot)
tl_log "after:  $after"
tl_check "nothing left allocated after $CYCLES cycles" test "$after" = "$base"
out=$(al_cni h1 ADD cid-last "$P" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=last" <<<"$(al_netconf h1 red blue)")
tl_check "addresses were released: the next pod gets 10.1.0.2 and 10.2.0.2" \
	eval 'grep -q "10.1.0.2/24" <<<"$out" && grep -q "10.2.0.2/24" <<<"$out"'
exit 0
