#!/usr/bin/env bash
# tests/e2e/bgp_addpath.sh — ECMP through tern-control with ADD-PATH
# (RFC 7911), gobgpd peers in a namespace of their own:
#   gobgpd A 10.0.0.3, B 10.0.0.4 (rr-clients): announce the same prefixes
#   gobgpd C 10.0.0.5: ADD-PATH receive for VPNv4     -- tern 10.0.0.1
#   gobgpd D 10.0.0.6: no ADD-PATH
#   tern-control T2 10.0.0.2 (a second controller, iBGP non-client), with
#   `add-path receive`: tern offers ADD-PATH both ways, T2 only receiving
# 1. The anycast case with different RDs (65000:81 from A, 65000:82 from B)
#    needs nothing: two VPN destinations, D (no ADD-PATH) gets both.
# 2. The same RD:prefix (65000:7:10.7.0.1/32) from A and B with equal
#    attributes: D gets the best path only; C, which negotiated ADD-PATH,
#    gets both (next hops 10.0.0.3 and 10.0.0.4) under two path ids, and so
#    does T2 (receiving side: two paths from one peer, told apart by id).
# 3. A withdraws: C and T2 keep B's path only (withdrawal by path id), D
#    gets B's.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
tl_init
bgp_lab_need
ns=$(tl_netns bgpap)
for a in 10.0.0.1/32 10.0.0.2/32 10.0.0.3/32 10.0.0.4/32 10.0.0.5/32 10.0.0.6/32; do
	ip -n "$ns" addr add "$a" dev lo
done
SOCK=$TL_DIR/ctl.sock
SOCK2=$TL_DIR/ctl2.sock

{
	printf 'router-id 10.0.0.1\nas 65000\nlisten 10.0.0.1 179\nhold-time 30\nconnect-retry 1\n'
	printf 'startup-defer 0\ncontrol-socket %s\n' "$SOCK"
	for i in 3 4 5 6; do
		printf '\n[neighbor 10.0.0.%s]\nas 65000\nport 179%s\nlocal-address 10.0.0.1\n' "$i" "$i"
		printf 'families vpnv4\nrr-client\n'
	done
	printf '\n[neighbor 10.0.0.2]\nas 65000\nlocal-address 10.0.0.1\nfamilies vpnv4\n'
} >"$TL_DIR/tern.conf"
cat >"$TL_DIR/tern2.conf" <<CONF
router-id 10.0.0.2
as 65000
listen 10.0.0.2 179
hold-time 30
connect-retry 1
startup-defer 0
control-socket $SOCK2

[neighbor 10.0.0.1]
as 65000
local-address 10.0.0.2
families vpnv4
add-path receive
CONF

gobgp_conf() { # NAME ADDR PORT ADDPATH_RECEIVE
	GOBGP_TABLES=$'  [neighbors.add-paths.config]\n    receive = '$4 \
		GOBGP_AFI=$'    [neighbors.afi-safis.add-paths.config]\n      receive = '$4 \
		bgp_gobgp_conf "$1" "$2" "$3" l3vpn-ipv4-unicast
}
gobgp_conf a 10.0.0.3 1793 false
gobgp_conf b 10.0.0.4 1794 false
gobgp_conf c 10.0.0.5 1795 true
gobgp_conf d 10.0.0.6 1796 false
for n in a b c d; do
	port=$((50130 + $(printf '%d' "'$n") - 96))
	tl_start "gobgpd-$n" "$ns" gobgpd -f "$TL_DIR/$n.toml" -t toml --api-hosts "127.0.0.1:$port"
done
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --log-level debug
TERN_PID=$TL_LAST_PID
tl_start tern-control2 "$ns" "$TC" -c "$TL_DIR/tern2.conf" --log-level debug
TERN2_PID=$TL_LAST_PID
gb() { local n=$1; shift; ip netns exec "$ns" gobgp -u 127.0.0.1 -p $((50130 + $(printf '%d' "'$n") - 96)) "$@"; }
for i in 2 3 4 5 6; do
	tl_wait "session with 10.0.0.$i Established" 40 established "10.0.0.$i"
done
tl_log "PASS five sessions Established"
addpath_c() {
	"$CTL" bgp neighbors --socket "$SOCK" -o json | /usr/bin/python3 -c '
import json, sys
n = [x for x in json.load(sys.stdin)["neighbors"] if x["address"] == "10.0.0.5"][0]
assert n.get("add_path", {}).get("send") == ["vpnv4"], n
print("C:", n["add_path"])'
}
addpath_c || tl_fail "tern did not negotiate ADD-PATH send with C"
"$CTL" bgp neighbors --socket "$SOCK" -o json | /usr/bin/python3 -c '
import json, sys
n = {x["address"]: x for x in json.load(sys.stdin)["neighbors"]}
assert "add_path" not in n["10.0.0.6"], n["10.0.0.6"]
assert n["10.0.0.2"]["add_path"] == {"send": ["vpnv4"], "receive": []}, n["10.0.0.2"]' ||
	tl_fail "ADD-PATH: D must not have it, T2 must have it (tern sending only)"
"$CTL" bgp neighbors --socket "$SOCK2" -o json | /usr/bin/python3 -c '
import json, sys
n = json.load(sys.stdin)["neighbors"][0]
assert n["add_path"] == {"send": [], "receive": ["vpnv4"]}, n' ||
	tl_fail "T2 (add-path receive) must receive only"
tl_log "PASS ADD-PATH negotiated: send with C and T2 (add-path receive), none with D"

# nexthops PEER KEY: the next hops PEER holds for the route KEY (RD:prefix), sorted
nexthops() {
	gb "$1" global rib -a vpnv4 -j 2>/dev/null | /usr/bin/python3 -c '
import json, sys
key = sys.argv[1]
d = json.load(sys.stdin)
nh = []
for k, paths in d.items():
    if k == key:
        for p in paths:
            for a in p.get("attrs", []):
                if a.get("type") == 14:
                    nh.append(a["nexthop"])
print(" ".join(sorted(nh)))' "$2"
}
has() { [ "$(nexthops "$1" "$2")" = "$3" ]; }

# 1. different RDs
gb a global rib -a vpnv4 add 10.8.0.1/32 label 81 rd 65000:81 rt 65000:8 nexthop 10.0.0.3 ||
	tl_fail "gobgp A: cannot add a route"
gb b global rib -a vpnv4 add 10.8.0.1/32 label 82 rd 65000:82 rt 65000:8 nexthop 10.0.0.4 ||
	tl_fail "gobgp B: cannot add a route"
tl_wait "D: RD 65000:81 via A" 20 has d 65000:81:10.8.0.1/32 10.0.0.3
tl_wait "D: RD 65000:82 via B" 20 has d 65000:82:10.8.0.1/32 10.0.0.4
tl_log "PASS different RDs: D (no ADD-PATH) holds both paths of 10.8.0.1/32"

# 2. the same RD
gb a global rib -a vpnv4 add 10.7.0.1/32 label 71 rd 65000:7 rt 65000:7 nexthop 10.0.0.3 ||
	tl_fail "gobgp A: cannot add a route"
gb b global rib -a vpnv4 add 10.7.0.1/32 label 72 rd 65000:7 rt 65000:7 nexthop 10.0.0.4 ||
	tl_fail "gobgp B: cannot add a route"
two_in_tern() {
	"$CTL" bgp rib -a vpnv4 --socket "$SOCK" -o json | /usr/bin/python3 -c '
import json, sys
r = [x for x in json.load(sys.stdin)["routes"] if x["prefix"] == "10.7.0.1/32"]
assert len(r) == 1 and len(r[0]["paths"]) == 2, r'
}
tl_wait "tern: two paths of 65000:7:10.7.0.1/32" 20 two_in_tern
# t2_paths: "next-hop/path-id ..." of T2's paths of 10.7.0.1/32, sorted
t2_paths() {
	"$CTL" bgp rib -a vpnv4 --socket "$SOCK2" -o json | /usr/bin/python3 -c '
import json, sys
r = [x for x in json.load(sys.stdin)["routes"] if x["prefix"] == "10.7.0.1/32"]
ps = r[0]["paths"] if r else []
assert all(p["peer"] == "10.0.0.1" for p in ps), ps
print(" ".join(sorted("%s/%s" % (p["next_hop"], p.get("path_id", 0)) for p in ps)))'
}
t2_two() { [[ "$(t2_paths)" =~ ^10\.0\.0\.3/[1-9][0-9]*\ 10\.0\.0\.4/[1-9][0-9]*$ ]]; }
tl_wait "T2: both paths from tern, with path ids" 20 t2_two
tl_log "PASS T2 received both paths from one peer: $(t2_paths)"
tl_wait "C: both paths (ADD-PATH)" 20 has c 65000:7:10.7.0.1/32 "10.0.0.3 10.0.0.4"
gb c global rib -a vpnv4 | grep -E "Network|10.7.0.1/32"
one_at_d() { local n; n=$(nexthops d 65000:7:10.7.0.1/32); [ "$n" = 10.0.0.3 ] || [ "$n" = 10.0.0.4 ]; }
tl_wait "D: one path" 20 one_at_d
sleep 1
tl_check "D still one path" one_at_d
tl_log "PASS same RD: C (ADD-PATH) holds both next hops, D the best one"

# 3. A withdraws its path
gb a global rib -a vpnv4 del 10.7.0.1/32 label 71 rd 65000:7 rt 65000:7 nexthop 10.0.0.3 ||
	tl_fail "gobgp A: cannot withdraw"
tl_wait "C: B's path only" 20 has c 65000:7:10.7.0.1/32 10.0.0.4
tl_wait "D: B's path" 20 has d 65000:7:10.7.0.1/32 10.0.0.4
t2_b() { [[ "$(t2_paths)" =~ ^10\.0\.0\.4/[1-9][0-9]*$ ]]; }
tl_wait "T2: B's path only" 20 t2_b
tl_log "PASS withdrawal: C and T2 keep B's path only, D has B's"
# and back
gb a global rib -a vpnv4 add 10.7.0.1/32 label 71 rd 65000:7 rt 65000:7 nexthop 10.0.0.3 ||
	tl_fail "gobgp A: cannot add the route again"
tl_wait "C: both paths again" 20 has c 65000:7:10.7.0.1/32 "10.0.0.3 10.0.0.4"
tl_wait "T2: both paths again" 20 t2_two
tl_log "PASS announced again: C and T2 hold both paths"

kill -0 "$TERN_PID" || tl_fail "tern-control died"
kill -0 "$TERN2_PID" || tl_fail "the second tern-control died"
flaps=$("$CTL" bgp neighbors --socket "$SOCK" -o json | /usr/bin/python3 -c \
	"import json,sys; print(sum(n.get('flaps',0) for n in json.load(sys.stdin)['neighbors']))")
[ "$flaps" = 0 ] || tl_fail "$flaps session flaps"
tl_log "bgp_addpath: all checks passed"
