#!/usr/bin/env bash
# tests/e2e/agent_evpn.sh — L2 virtual networks (forwarding_mode l2) between
# two hosts through EVPN, every piece a real process (tern-api, tern-control,
# per host tern-vrouter and tern-agent, pods made by tern-cni):
#   l2x bridges over VXLAN (the network's VNI), l2m over MPLSoUDP (a label
#   per MAC, one flood label per network);
#   p1 on h1 and p2 on h2 each have eth0 on l2x and net1 on l2m.
# Checks: the pods ping each other on both networks with real ARP (flooded
# by ingress replication, answered by the pod itself); h1's bridge table holds
# p2's MACs and its flood lists a tunnel to h2; tern-control's EVPN RIB has
# type 2 (MAC, MAC+IP) and type 3 routes of both nodes; deleting p2 takes
# its MACs out of h1's bridge table.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
BUILD=${BUILD:-build}
source tests/lib/agentlab.sh
tl_init
command -v curl >/dev/null || tl_skip "no curl"

al_init
al_host h1 0 10.255.0.1 10.254.0.11
al_host h2 1 10.255.0.2 10.254.0.12
al_control_families "vpnv4 vpnv6 evpn" h1 h2

al_apply <<'YAML' || tl_fail "cannot create the networks in tern-api"
kind: project
name: demo
---
kind: virtual-network
project: demo
name: l2x
forwarding_mode: l2
encapsulation: [VXLAN]
subnets: [{cidr: "10.7.0.0/24"}]
---
kind: virtual-network
project: demo
name: l2m
forwarding_mode: l2
encapsulation: [MPLSoUDP, MPLSoGRE]
subnets: [{cidr: "10.8.0.0/24"}]
YAML

al_agent h1
al_agent h2
al_sessions_up 2

P1=$(tl_netns p1) P2=$(tl_netns p2)
out1=$(al_cni h1 ADD cid-p1 "$P1" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p1" <<<"$(al_netconf h1 l2x l2m)") ||
	tl_fail "p1: ADD failed: $out1"
out2=$(al_cni h2 ADD cid-p2 "$P2" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p2" <<<"$(al_netconf h2 l2x l2m)") ||
	tl_fail "p2: ADD failed: $out2"
field() { # RESULT NAME IFNAME: the pod interface's mac, or its address in PREFIX
	python3 -c '
import json, sys
r = json.loads(sys.argv[1]); what, ifn = sys.argv[2], sys.argv[3]
idx = [i for i, x in enumerate(r["interfaces"]) if x.get("sandbox") and x["name"] == ifn][0]
if what == "mac":
    print(r["interfaces"][idx]["mac"])
else:
    print([ip["address"].split("/")[0] for ip in r["ips"] if ip.get("interface") == idx][0])' "$1" "$2" "$3"
}
P1_X=$(field "$out1" ip eth0) P1_M=$(field "$out1" ip net1)
P2_X=$(field "$out2" ip eth0) P2_M=$(field "$out2" ip net1)
P2_XMAC=$(field "$out2" mac eth0) P2_MMAC=$(field "$out2" mac net1)
tl_log "p1: $P1_X $P1_M   p2: $P2_X ($P2_XMAC) $P2_M ($P2_MMAC)"

# ---- traffic: real ARP, bridged by MAC
png() { ip netns exec "$1" ping -c 3 -i 0.2 -W 2 "$2" >/dev/null 2>&1; }
tl_wait "p1 -> p2 on l2x (VXLAN, bridged)" 20 png "$P1" "$P2_X"
tl_log "PASS p1 -> p2 on l2x (VXLAN, bridged)"
tl_check "p1 -> p2 on l2m (MPLSoUDP, bridged)" png "$P1" "$P2_M"
tl_check "p2 -> p1 on l2m" png "$P2" "$P1_M"
got=$(ip -n "$P1" neigh show "$P2_X" | awk '{print $5}')
tl_check "p1 learned p2's own MAC by ARP ($got), not the vrouter's" test "$got" = "$P2_XMAC"

# ---- h1's vrouter: bridge entries and flood lists
vr1() { "$VL_CTL" --socket "$TL_DIR/h1/ctl.sock" "$@"; }
bridge_has() { # MAC: in some VRF's bridge table of h1
	local v
	for v in 1 2 3 4 5 6; do
		vr1 vr bridge list --vrf "$v" 2>/dev/null | grep -qi "$1" && return 0
	done
	return 1
}
tl_check "h1's bridge table holds p2's l2x MAC $P2_XMAC" bridge_has "$P2_XMAC"
tl_check "h1's bridge table holds p2's l2m MAC $P2_MMAC" bridge_has "$P2_MMAC"
flood_to_h2() { # every L2 VRF of h1 floods to h2 (a tunnel nexthop to 10.255.0.2)
	vr1 vr vrf list -o json >"$TL_DIR/vrfs.json" || return 1
	vr1 vr nh list -o json >"$TL_DIR/nhs.json" || return 1
	python3 - "$TL_DIR/vrfs.json" "$TL_DIR/nhs.json" <<'PY'
import json, sys
def items(d):
    if isinstance(d, dict):
        for k in ("items", "vrfs", "nexthops", "objects"):
            if k in d:
                return d[k]
    return d
vrfs = items(json.load(open(sys.argv[1])))
nhs = {n["id"]: n for n in items(json.load(open(sys.argv[2])))}
l2 = [v for v in vrfs if v.get("flood_nh")]
assert len(l2) == 2, vrfs
for v in l2:
    f = nhs[v["flood_nh"]]
    assert f["type"] == "flood", f
    dips = [nhs[m].get("dip") for m in f["members"] if nhs[m]["type"] == "tunnel"]
    assert dips == ["10.255.0.2"], (v, f, dips)
    encs = {nhs[m].get("encap") for m in f["members"] if nhs[m]["type"] == "tunnel"}
    print("vrf", v["id"], "flood nh", f["id"], "members", f["members"], encs)
PY
}
tl_check "h1's flood lists of both L2 networks hold h2 (ingress replication)" flood_to_h2

# ---- tern-control's EVPN RIB
rib_ok() {
	"$VL_CTL" bgp rib -a evpn --socket "$TL_DIR/control.sock" -o json >"$TL_DIR/rib.json" || return 1
	python3 - "$TL_DIR/rib.json" "$P2_XMAC" "$P2_X" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
mac, ip = sys.argv[2].lower(), sys.argv[3]
rs = d["routes"]
t2 = [r for r in rs if r["route_type"] == 2]
t3 = [r for r in rs if r["route_type"] == 3]
# per pod interface a MAC-only and a MAC+IP route: 2 pods x 2 networks x 2
assert len(t2) == 8, [(r.get("mac"), r.get("ip")) for r in t2]
assert {r["ip"] for r in t3} == {"10.255.0.1", "10.255.0.2"} and len(t3) == 4, t3
m = [r for r in t2 if r["mac"].lower() == mac]
assert {r.get("ip") for r in m} - {None, ""} == {ip}, m
p = m[0]["paths"][0]
assert p["next_hop"] == "10.255.0.2" and "encap:vxlan" in p["ext_communities"], p
assert any(e.startswith("rt:") for e in p["ext_communities"]), p
PY
}
tl_wait "tern-control's EVPN RIB: type 2 and type 3 routes of both nodes" 10 rib_ok
tl_log "PASS tern-control's EVPN RIB: type 2 (MAC, MAC+IP) and type 3 routes of both nodes"
"$VL_CTL" bgp rib -a evpn --socket "$TL_DIR/control.sock" | head -20

# ---- p2 goes: its MACs leave h1's bridge table
al_cni h2 DEL cid-p2 "$P2" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p2" <<<"$(al_netconf h2 l2x l2m)" >/dev/null ||
	tl_fail "p2: DEL failed"
gone() { ! bridge_has "$P2_XMAC" && ! bridge_has "$P2_MMAC"; }
tl_wait "p2's MACs gone from h1's bridge table" 10 gone
tl_log "PASS p2's MACs gone from h1's bridge table"
no_flood_h2() { # h2 has no L2 port left: its type 3 routes are withdrawn
	vr1 vr nh list -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = next((d[k] for k in ("items", "nexthops", "objects") if isinstance(d, dict) and k in d), d)
assert not [n for n in d if n["type"] == "tunnel" and n.get("dip") == "10.255.0.2" and n.get("flags")], d'
}
# the type 3 routes' withdrawal may come after the type 2 ones
tl_wait "h1 no longer floods to h2 (no L2 tunnel nexthop to it)" 10 no_flood_h2
tl_log "PASS h1 no longer floods to h2 (no L2 tunnel nexthop to it)"
gone_rib() { ! "$VL_CTL" bgp rib -a evpn --socket "$TL_DIR/control.sock" | grep -q "10.255.0.2:"; }
tl_wait "h2's EVPN routes withdrawn from tern-control" 10 gone_rib
tl_log "PASS h2's EVPN routes (type 2 and 3) withdrawn from tern-control"
tl_log "agent_evpn: all checks passed"
exit 0
