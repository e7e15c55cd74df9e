#!/usr/bin/env bash
# tests/e2e/agent_l2l3.sh — virtual networks in forwarding_mode l2_l3 (tern-api's
# default) route AND bridge, and bridged IP meets the same policies as routed
# IP. Every piece a real process (tern-api, tern-control, per host tern-vrouter
# and tern-agent, pods by tern-cni):
#   x (VXLAN): p1 and p3 on h1, p2 on h2;  m (MPLSoUDP): q1 on h1, q2 on h2.
# Checks: the VRFs are L2|L3 with a flood nexthop and the pods' host routes
# answer ARP (proxy-arp); pods ping each other routed (ARP answered with the
# vrouter MAC, TTL decremented); with static neighbours to the real MACs the
# same pings are bridged (TTL 64) locally, over VXLAN and over MPLSoUDP; a
# non-IP frame (ethertype 0x88b5) from p1 to p2's MAC reaches p2; an ARP
# request for an unknown address floods to h2. Then a security group on p2,
# p3 and q2 (ingress TCP 80 only): TCP 81 and ping that passed bridged are
# dropped bridged (POLICY_DENY) as well as routed, TCP 80 still connects.
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
name: x
forwarding_mode: l2_l3
encapsulation: [VXLAN]
subnets: [{cidr: "10.7.0.0/24"}]
---
kind: virtual-network
project: demo
name: m
forwarding_mode: l2_l3
encapsulation: [MPLSoUDP, MPLSoGRE]
subnets: [{cidr: "10.8.0.0/24"}]
YAML
al_agent h1
al_agent h2
al_sessions_up 2

al_pod h1 p1 x
al_pod h2 p2 x
al_pod h1 p3 x
al_pod h1 q1 m
al_pod h2 q2 m
declare -A MAC
for p in p1 p2 p3 q1 q2; do
	MAC[$p]=$(ip -n "${AL_POD_NS[$p]}" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	tl_log "$p: ${AL_POD_IP[$p]} ${MAC[$p]}"
done

# ---- the vrouters' tables: L2|L3 VRFs with flood nexthops, proxy-arp host routes
vrfs_l2l3() { # HOST: every VRF with a flood nexthop routes and bridges; two of them
	vl_ctl "$1" vr vrf list -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
d = next((d[k] for k in ("items", "vrfs", "objects") if isinstance(d, dict) and k in d), d)
l2 = [v for v in d if v.get("flood_nh")]
assert len(l2) == 2 and all(set(v["flags"]) == {"l2", "l3"} for v in l2), d'
}
tl_wait "h1's VRFs of x and m: flags l2+l3, a flood nexthop" 20 vrfs_l2l3 h1
tl_log "PASS h1's VRFs of x and m: flags l2+l3, a flood nexthop"
tl_check "h2's VRFs of x and m: flags l2+l3, a flood nexthop" vrfs_l2l3 h2
proxy_routes() { # HOST ADDR...: each address's host route is flagged proxy-arp
	local h=$1
	shift
	local v
	for v in 1 2 3 4; do
		vl_ctl "$h" vr route list --vrf "$v" -o json || return 1
	done | "$PY" -c '
import json, sys
dec, text, d = json.JSONDecoder(), sys.stdin.read(), []
i = 0
while i < len(text):  # one JSON document per VRF
    if text[i].isspace():
        i += 1
        continue
    o, i = dec.raw_decode(text, i)
    d += next((o[k] for k in ("items", "routes", "objects") if isinstance(o, dict) and k in o), o)
for a in sys.argv[1:]:
    r = [r for r in d if r["prefix"] in (a + "/32", a + "/128")]
    assert r and all("proxy-arp" in x.get("flags", []) for x in r), (a, r)' "$@"
}
tl_wait "h1: host routes of p1, p3 (local) and p2 (remote) flagged proxy-arp" 20 \
	proxy_routes h1 "${AL_POD_IP[p1]}" "${AL_POD_IP[p3]}" "${AL_POD_IP[p2]}"
tl_log "PASS h1: host routes of p1, p3 (local) and p2 (remote) flagged proxy-arp"

# ---- routed: ARP answered by the vrouter, TTL decremented
# ttl FROM TO: the TTL of an echo reply (empty: no reply)
ttl() { ip netns exec "${AL_POD_NS[$1]}" ping -c 1 -W 1 "${AL_POD_IP[$2]}" 2>/dev/null | sed -n 's/.*ttl=\([0-9]*\).*/\1/p'; }
routed() { local t; t=$(ttl "$1" "$2"); [ -n "$t" ] && [ "$t" -lt 64 ]; }
bridged() { [ "$(ttl "$1" "$2")" = 64 ]; }
noping() { [ -z "$(ttl "$1" "$2")" ]; }
tl_wait "p1 -> p2 routed over VXLAN (TTL < 64)" 20 routed p1 p2
tl_log "PASS p1 -> p2 routed over VXLAN (TTL < 64)"
tl_check "p1 -> p3 routed on h1" routed p1 p3
tl_wait "q1 -> q2 routed over MPLSoUDP" 20 routed q1 q2
tl_log "PASS q1 -> q2 routed over MPLSoUDP"
neigh_mac() { ip -n "${AL_POD_NS[$1]}" neigh show "${AL_POD_IP[$2]}" dev eth0 | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}'; }
got=$(neigh_mac p1 p2)
tl_check "p1 resolved p2 to the vrouter's MAC ($got), not p2's own (${MAC[p2]})" \
	bash -c "[ -n '$got' ] && [ '$got' != '${MAC[p2]}' ]"

# ---- bridged: static neighbours with the real MACs, both ways
static() { # static A B: A reaches B at B's own MAC
	ip -n "${AL_POD_NS[$1]}" neigh replace "${AL_POD_IP[$2]}" lladdr "${MAC[$2]}" dev eth0 nud permanent
}
unstatic() { ip -n "${AL_POD_NS[$1]}" neigh del "${AL_POD_IP[$2]}" dev eth0 2>/dev/null || true; }
for pair in "p1 p2" "p2 p1" "p1 p3" "p3 p1" "q1 q2" "q2 q1"; do
	static $pair || tl_fail "static neighbour $pair"
done
tl_wait "p1 -> p2 bridged over VXLAN (TTL 64)" 10 bridged p1 p2
tl_log "PASS p1 -> p2 bridged over VXLAN (TTL 64)"
tl_check "p1 -> p3 bridged on h1 (TTL 64)" bridged p1 p3
tl_wait "q1 -> q2 bridged over MPLSoUDP (TTL 64)" 10 bridged q1 q2
tl_log "PASS q1 -> q2 bridged over MPLSoUDP (TTL 64)"

# ---- non-IP: an Ethernet frame of ethertype 0x88b5 from p1 to p2's MAC
tl_start rx-p2 "${AL_POD_NS[p2]}" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind(("eth0", 0)); s.settimeout(15)
while True:
    f = s.recv(2048)
    if b"tern-l2l3" in f:
        print("got", f[6:12].hex(":")); sys.stdout.flush(); break'
sleep 0.5
ip netns exec "${AL_POD_NS[p1]}" "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
dst = bytes.fromhex(sys.argv[1].replace(":", "")); src = bytes.fromhex(sys.argv[2].replace(":", ""))
for _ in range(10):
    s.send(dst + src + b"\x88\xb5" + b"tern-l2l3".ljust(46, b"\0")); time.sleep(0.2)' "${MAC[p2]}" "${MAC[p1]}" ||
	tl_fail "p1 cannot send a raw frame"
got_raw() { grep -q "^got ${MAC[p1]}" "$TL_DIR/rx-p2.log"; }
tl_wait "p2 receives p1's non-IP frame (0x88b5), bridged over VXLAN" 5 got_raw
tl_log "PASS p2 receives p1's non-IP frame (0x88b5), bridged over VXLAN"

# ---- flooding: ARP for an address nobody has reaches the other host
tl_start arp-p2 "${AL_POD_NS[p2]}" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind(("eth0", 0)); s.settimeout(15)
while True:
    f = s.recv(2048)
    if f[0:6] == b"\xff" * 6 and f[12:14] == b"\x08\x06" and socket.inet_ntoa(f[38:42]) == "10.7.0.200":
        print("who-has"); sys.stdout.flush(); break'
sleep 0.5
ip netns exec "${AL_POD_NS[p1]}" ping -c 3 -i 0.3 -W 1 10.7.0.200 >/dev/null 2>&1
got_arp() { grep -q who-has "$TL_DIR/arp-p2.log"; }
tl_wait "p1's ARP request for 10.7.0.200 (unknown) flooded to p2 on h2" 5 got_arp
tl_log "PASS p1's ARP request for 10.7.0.200 (unknown) flooded to p2 on h2"

# ---- policies: a TCP server on p2 and p3; open before any group
al_tcp_server p2 80 81
al_tcp_server p3 80 81
conn() { # conn FROM TO PORT: answered within 2 s
	ip netns exec "${AL_POD_NS[$1]}" "$PY" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
sys.exit(0 if s.recv(64) else 1)' "${AL_POD_IP[$2]}" "$3" 2>/dev/null
}
noconn() { ! conn "$@"; }
tl_check "p1 -> p2:81 connects bridged (no group yet)" conn p1 p2 81
tl_check "p1 -> p3:81 connects bridged (no group yet)" conn p1 p3 81

vmi_set_groups() { # POD GROUP...: the interface's security_groups
	local pod=$1
	shift
	al_ctl get vmi -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin); items = d.get("items", d) if isinstance(d, dict) else d
v = [v for v in items if v.get("owner") == "demo/" + sys.argv[1]][0]
v["security_groups"] = sys.argv[2:]
v["kind"] = "virtual-machine-interface"
print(json.dumps(v))' "$pod" "$@" | al_apply
}
printf 'kind: security-group\nproject: demo\nname: web\nrules: [%s]\n' \
	"{direction: ingress, protocol: tcp, ports: [{start: 80, end: 80}]}, {direction: egress, protocol: any}" |
	al_apply || tl_fail "cannot create the security group web"
for p in p2 p3 q2; do
	vmi_set_groups "$p" web || tl_fail "cannot give $p the group web"
done
deny_count() { # HOST: packets dropped under POLICY_DENY
	vl_ctl "$1" vr drop -o json | "$PY" -c '
import json, sys
print(sum(e["packets"] for e in json.load(sys.stdin) if e["reason"].upper() == "POLICY_DENY"))'
}
denies() { noconn p1 p2 81 && noconn p1 p3 81 && noping q1 q2; }
tl_wait "the group web in force on p2, p3 and q2" 30 denies
d1=$(deny_count h1) d2=$(deny_count h2)
tl_check "bridged (static neighbour): p1 -> p2:81 over VXLAN is dropped" noconn p1 p2 81
tl_check "bridged: p1 -> p3:81 on h1 is dropped" noconn p1 p3 81
tl_check "bridged: ping p1 -> p2 is dropped" noping p1 p2
tl_check "bridged: ping q1 -> q2 over MPLSoUDP is dropped" noping q1 q2
tl_check "bridged: p1 -> p2:80 (allowed by the group) connects" conn p1 p2 80
tl_check "bridged: p1 -> p3:80 (allowed by the group) connects" conn p1 p3 80
tl_check "the neighbour of p2 in p1 is still p2's own MAC (the path was bridged)" \
	test "$(neigh_mac p1 p2)" = "${MAC[p2]}"
tl_log "POLICY_DENY: h1 $d1 -> $(deny_count h1), h2 $d2 -> $(deny_count h2)"
tl_check "h2 counted the bridged drops under POLICY_DENY" test "$(deny_count h2)" -gt "$d2"
tl_check "h1 counted the local bridged drops under POLICY_DENY" test "$(deny_count h1)" -gt "$d1"

# ---- routed again (neighbours resolved by ARP): the same verdicts
for pair in "p1 p2" "p2 p1" "p1 p3" "p3 p1" "q1 q2" "q2 q1"; do
	unstatic $pair
done
tl_check "routed: p1 -> p2:81 is dropped" noconn p1 p2 81
tl_check "routed: p1 -> p2:80 connects" conn p1 p2 80
tl_check "routed: p1 -> p3:81 is dropped" noconn p1 p3 81
got=$(neigh_mac p1 p2)
tl_check "p1 resolved p2 to the vrouter's MAC again ($got)" bash -c "[ -n '$got' ] && [ '$got' != '${MAC[p2]}' ]"
tl_log "PASS l2_l3: routed and bridged paths, non-IP and flooding, policies on both paths"
