#!/usr/bin/env bash
# tests/e2e/agent_takeover.sh — an agent restart loses no packet of a floating
# IP or of an L2 (EVPN) network, and changes no label. Every piece is a real
# process (tern-api, tern-control, per host tern-vrouter and tern-agent, pods
# made by tern-cni). Two hosts:
#   h1: a1 on "red" with a floating IP of "pub"; p1 on "l2m" (l2, MPLSoUDP)
#       and "l2x" (l2, VXLAN)
#   h2: z1 on "pub"; p2 on "l2m" and "l2x"
# z1 pings a1's floating IP and p2 pings p1 on both L2 networks at 100 Hz,
# and an iperf3 TCP connection runs from z1 to the floating IP, while h1's
# agent is stopped (SIGTERM, graceful restart), started again and finishes
# its take-over (the sweep of what nobody claimed). Checks: no ping lost, the
# TCP connection lives; h1's MPLS label table (label -> nexthop), its bridge
# entries and flood lists, and tern-control's VPN and EVPN routes are the
# same before and after; the agent took the floating IP and the L2 objects
# over rather than making new ones. Then h1's vrouter restarts empty: the
# agent writes the same labels again. Last, a floating IP deleted and a
# remote pod gone while the agent is down: removed once it is back (the
# remote pod's bridge entries by the take-over sweep).
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
al_host h2 1 10.255.0.2 10.254.0.12
al_control_families "vpnv4 vpnv6 evpn" h1 h2
al_apply <<'YAML' || tl_fail "cannot create the networks in tern-api"
kind: project
name: demo
---
kind: virtual-network
project: demo
name: red
subnets: [{cidr: "10.1.0.0/24"}]
---
kind: virtual-network
project: demo
name: pub
subnets: [{cidr: "203.0.113.0/24"}]
---
kind: virtual-network
project: demo
name: l2m
forwarding_mode: l2
encapsulation: [MPLSoUDP, MPLSoGRE]
subnets: [{cidr: "10.8.0.0/24"}]
---
kind: virtual-network
project: demo
name: l2x
forwarding_mode: l2
encapsulation: [VXLAN]
subnets: [{cidr: "10.7.0.0/24"}]
YAML
al_agent h1
al_agent h2
al_sessions_up 2

al_pod h1 a1 red
al_pod h2 z1 pub
P1=$(tl_netns p1) P2=$(tl_netns p2)
out1=$(al_cni h1 ADD cid-p1 "$P1" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p1" <<<"$(al_netconf h1 l2m l2x)") ||
	tl_fail "p1: ADD failed: $out1"
out2=$(al_cni h2 ADD cid-p2 "$P2" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p2" <<<"$(al_netconf h2 l2m l2x)") ||
	tl_fail "p2: ADD failed: $out2"
ipof() { # RESULT IFNAME: the pod interface's address
	"$PY" -c '
import json, sys
r = json.loads(sys.argv[1])
idx = [i for i, x in enumerate(r["interfaces"]) if x.get("sandbox") and x["name"] == sys.argv[2]][0]
print([ip["address"].split("/")[0] for ip in r["ips"] if ip.get("interface") == idx][0])' "$1" "$2"
}
P1_M=$(ipof "$out1" eth0) P1_X=$(ipof "$out1" net1)

printf 'kind: floating-ip-pool\nproject: demo\nname: pub-pool\nvirtual_network: pub\n' | al_apply ||
	tl_fail "cannot create the pool"
FIP=$(al_fip a1-fip pub-pool a1) || tl_fail "no floating IP for a1"
tl_log "a1 ${AL_POD_IP[a1]} floating IP $FIP; z1 ${AL_POD_IP[z1]}; p1 $P1_M (l2m) $P1_X (l2x)"

png() { ip netns exec "$1" ping -c 2 -i 0.2 -W 1 "$2" >/dev/null 2>&1; }
tl_wait "z1 (h2) -> a1's floating IP $FIP" 20 png "${AL_POD_NS[z1]}" "$FIP"
tl_wait "p2 -> p1 on l2m (MPLSoUDP)" 20 png "$P2" "$P1_M"
tl_wait "p2 -> p1 on l2x (VXLAN)" 20 png "$P2" "$P1_X"

# What must not change: h1's label table, the routes tern-control holds.
vr1() { "$VL_CTL" --socket "$TL_DIR/h1/ctl.sock" "$@"; }
labels() { vr1 vr mpls list -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
d = next((d[k] for k in ("items", "labels", "objects") if isinstance(d, dict) and k in d), d)
for x in sorted(d, key=lambda x: x["label"]):
    print(x["label"], x["nh"])'; }
rib() { # every VPN and EVPN route with its label(s), as tern-control has them
	local af
	for af in vpnv4 evpn; do
		"$VL_CTL" bgp rib -a "$af" --socket "$TL_DIR/control.sock" -o json
	done | "$PY" -c '
import json, sys
dec = json.JSONDecoder(); s = sys.stdin.read().strip(); out = []
while s:
    d, i = dec.raw_decode(s); s = s[i:].strip()
    for r in d["routes"]:
        for p in r["paths"]:
            key = {k: v for k, v in r.items() if k != "paths"}
            out.append(json.dumps([key, p.get("next_hop"), p.get("label"), p.get("labels"),
                                   p.get("pmsi_tunnel", p.get("pmsi"))], sort_keys=True))
print("\n".join(sorted(out)))'; }
l2tables() { # h1's bridge entries (MAC -> nexthop) and flood lists, per VRF
	local v
	vr1 vr vrf list -o json >"$TL_DIR/vrfs.json" || return 1
	vr1 vr nh list -o json >"$TL_DIR/nhs.json" || return 1
	for v in 1 2 3 4 5; do
		echo "vrf $v:"
		vr1 vr bridge list --vrf "$v" 2>/dev/null | sort
	done
	"$PY" - "$TL_DIR/vrfs.json" "$TL_DIR/nhs.json" <<'PY'
import json, sys
def items(d):
    if isinstance(d, dict):
        for k in ("items", "vrfs", "nexthops", "objects"):
            if k in d:
                return d[k]
    return d
nhs = {n["id"]: n for n in items(json.load(open(sys.argv[2])))}
for v in items(json.load(open(sys.argv[1]))):
    f = nhs.get(v.get("flood_nh"))
    if f:
        print("vrf", v["id"], "flood", f["id"], sorted(f["members"]))
PY
}
labels >"$TL_DIR/labels-before" || tl_fail "cannot list h1's labels"
l2tables >"$TL_DIR/l2-before" || tl_fail "cannot list h1's L2 tables"
grep -q flood "$TL_DIR/l2-before" || tl_fail "h1 has no flood list: $(cat "$TL_DIR/l2-before")"
rib >"$TL_DIR/rib-before" || tl_fail "cannot read tern-control's RIB"
tl_log "h1 labels: $(tr '\n' ' ' <"$TL_DIR/labels-before")"
grep -q . "$TL_DIR/labels-before" || tl_fail "h1 has no label"
[ "$(wc -l <"$TL_DIR/rib-before")" -ge 8 ] || tl_fail "tern-control holds too few routes: $(cat "$TL_DIR/rib-before")"

# ---- h1's agent restarts under traffic
N=2000  # 20 s at 100 Hz: the stop, the start, the take-over 3 s after the sessions are up
tl_start iperf-a1 "${AL_POD_NS[a1]}" iperf3 -s -1 -p 5201
tl_wait "a1's iperf3 server" 10 bash -c "ip netns exec ${AL_POD_NS[a1]} ss -ltn | grep -q ':5201 '"
tl_start iperf-z1 "${AL_POD_NS[z1]}" timeout 60 iperf3 -c "$FIP" -p 5201 -t 18 -b 10M
IPERF=$TL_LAST_PID
ip netns exec "${AL_POD_NS[z1]}" ping -c $N -i 0.01 -W 1 "$FIP" >"$TL_DIR/ping-fip.txt" 2>&1 &
PF=$!
ip netns exec "$P2" ping -c $N -i 0.01 -W 1 "$P1_M" >"$TL_DIR/ping-l2m.txt" 2>&1 &
PM=$!
ip netns exec "$P2" ping -c $N -i 0.01 -W 1 "$P1_X" >"$TL_DIR/ping-l2x.txt" 2>&1 &
PX=$!
sleep 1.5
tl_stop "${AL_AGENT_PID[h1]}"
cp "$TL_DIR/agent-h1.log" "$TL_DIR/agent-h1-first.log"
sleep 1
al_agent h1
took_over() { grep -q 'take-over complete' "$TL_DIR/agent-h1.log"; }
tl_wait "h1's take-over to complete" 30 took_over
running() { kill -0 "$PF" 2>/dev/null && kill -0 "$PM" 2>/dev/null && kill -0 "$PX" 2>/dev/null; }
tl_check "the pings were still running when the take-over completed" running
grep 'take-over complete\|taken over\|took over' "$TL_DIR/agent-h1.log"
wait "$PF"; wait "$PM"; wait "$PX"
wait "$IPERF"; rc=$?
tl_check "the iperf3 TCP connection to the floating IP survived the restart (rc $rc)" test "$rc" -eq 0
for t in fip l2m l2x; do
	tl_log "$t: $(grep -o '[0-9]* packets transmitted.*loss' "$TL_DIR/ping-$t.txt")"
done
tl_check "z1 -> floating IP $FIP through h1's agent restart: no packet lost" \
	grep -q " $N received, 0% packet loss" "$TL_DIR/ping-fip.txt"
tl_check "p2 -> p1 on l2m (MPLS) through h1's agent restart: no packet lost" \
	grep -q " $N received, 0% packet loss" "$TL_DIR/ping-l2m.txt"
tl_check "p2 -> p1 on l2x (VXLAN) through h1's agent restart: no packet lost" \
	grep -q " $N received, 0% packet loss" "$TL_DIR/ping-l2x.txt"

labels >"$TL_DIR/labels-after" || tl_fail "cannot list h1's labels"
tl_check "h1's labels and their nexthops are unchanged ($(tr '\n' ' ' <"$TL_DIR/labels-after"))" \
	cmp -s "$TL_DIR/labels-before" "$TL_DIR/labels-after"
l2tables >"$TL_DIR/l2-after" || tl_fail "cannot list h1's L2 tables"
if ! cmp -s "$TL_DIR/l2-before" "$TL_DIR/l2-after"; then
	diff "$TL_DIR/l2-before" "$TL_DIR/l2-after"
	tl_fail "h1's bridge entries or flood lists changed across its agent's restart"
fi
tl_log "PASS h1's bridge entries and flood lists (nexthop ids) are unchanged"
same_rib() { rib >"$TL_DIR/rib-after" && cmp -s "$TL_DIR/rib-before" "$TL_DIR/rib-after"; }
if ! same_rib; then
	diff "$TL_DIR/rib-before" "$TL_DIR/rib-after"
	tl_fail "tern-control's routes (labels) changed across h1's agent restart"
fi
tl_log "PASS tern-control's VPN and EVPN routes and labels are unchanged"
tl_check "the restarted agent took the floating IP over" \
	grep -q "floating IP $FIP taken over" "$TL_DIR/agent-h1.log"
tl_check "the restarted agent removed no label" \
	grep -q 'take-over complete: .*, 0 label(s)' "$TL_DIR/agent-h1.log"

# Still working after the take-over: new ARP (flooded) on the L2 networks.
ip -n "$P2" neigh flush all
tl_check "after the take-over p2 -> p1 on l2m with fresh ARP" png "$P2" "$P1_M"
tl_check "after the take-over p2 -> p1 on l2x with fresh ARP" png "$P2" "$P1_X"
tl_check "after the take-over z1 -> $FIP" png "${AL_POD_NS[z1]}" "$FIP"

# h1's vrouter restarts (empty tables): the agent writes everything again
# with the same labels and nexthops (the routes h2 holds stay valid).
tl_stop "${VL_PID[h1]}"
vl_vrouter_start h1
tl_wait "p2 -> p1 on l2m after h1's vrouter restarted" 20 png "$P2" "$P1_M"
tl_wait "p2 -> p1 on l2x after h1's vrouter restarted" 20 png "$P2" "$P1_X"
tl_wait "z1 -> $FIP after h1's vrouter restarted" 20 png "${AL_POD_NS[z1]}" "$FIP"
labels >"$TL_DIR/labels-vr" || tl_fail "cannot list h1's labels"
tl_check "after h1's vrouter restarted, the same labels to the same nexthops" \
	cmp -s "$TL_DIR/labels-before" "$TL_DIR/labels-vr"

# While h1's agent is down its floating IP is deleted and p2 (h2) goes: once
# back, the agent removes the floating IP, and its take-over sweep the bridge
# entries of p2's MACs (adopted from the vrouter, confirmed by no route).
P2_MMAC=$(ip -n "$P2" link show eth0 | awk '/ether/ {print $2}')
grep -qi "$P2_MMAC" "$TL_DIR/l2-after" || tl_fail "h1 has no bridge entry of p2's MAC $P2_MMAC"
tl_stop "${AL_AGENT_PID[h1]}"
al_ctl delete floating-ip a1-fip -p demo >/dev/null || tl_fail "cannot delete the floating IP"
al_cni h2 DEL cid-p2 "$P2" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p2" <<<"$(al_netconf h2 l2m l2x)" >/dev/null ||
	tl_fail "p2: DEL failed"
al_agent h1
fip_gone() { ! vr1 vr fip list | grep -q "$FIP"; }
tl_wait "the floating IP deleted meanwhile to leave h1's vrouter" 20 fip_gone
tl_log "PASS a floating IP deleted while the agent was down is removed after its start"
tl_check "z1 no longer reaches $FIP" bash -c "! ip netns exec ${AL_POD_NS[z1]} ping -c 2 -i 0.2 -W 1 $FIP >/dev/null 2>&1"
tl_wait "h1's second take-over to complete" 30 took_over
mac_gone() { l2tables >"$TL_DIR/l2-last" && ! grep -qi "$P2_MMAC" "$TL_DIR/l2-last"; }
tl_wait "p2's MAC (gone while h1's agent was down) to leave h1's bridge table" 10 mac_gone
tl_log "PASS p2's MAC, gone while h1's agent was down, left h1's bridge table with the take-over"
tl_log "agent_takeover: all checks passed"
exit 0
