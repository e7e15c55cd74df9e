#!/usr/bin/env bash
# tests/e2e/bgp_gobgp.sh — tern-control as a route reflector between two
# gobgpd instances (Debian gobgpd), inside a namespace of its own (so ports
# and 127/8 addresses clash with nothing):
#   gobgp A 127.0.0.2:1790  <-- iBGP, tern connects -->  tern 127.0.0.1:179
#   gobgp B 127.0.0.3:1791  --- iBGP, B connects    -->  (tern passive)
#   gobgp C [fd00::3]:1792  <-- iBGP over IPv6 -->        tern [fd00::1]:179
# A injects VPNv4 routes; they must appear in tern's RIB with RD, label,
# next hop, route target and encapsulation right, and reach B and C with
# ORIGINATOR_ID = A's router id and CLUSTER_LIST = tern's cluster id.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
tl_init
bgp_lab_need
ns=$(tl_netns bgp)
ip -n "$ns" addr add fd00::1/128 dev lo nodad
ip -n "$ns" addr add fd00::3/128 dev lo nodad
SOCK=$TL_DIR/ctl.sock

cat >"$TL_DIR/tern.conf" <<CONF
router-id 10.0.0.1
as 65000
cluster-id 10.0.0.100
listen 127.0.0.1 179
listen fd00::1 179
hold-time 30
connect-retry 1
control-socket $SOCK

[neighbor 127.0.0.2]
as 65000
port 1790
local-address 127.0.0.1
families ipv4 vpnv4
rr-client

[neighbor 127.0.0.3]
as 65000
port 1791
families ipv4 vpnv4
passive
rr-client

[neighbor fd00::3]
as 65000
port 1792
local-address fd00::1
families vpnv4
rr-client
CONF

GOBGP_ID=10.0.0.2 GOBGP_PEER=127.0.0.1 bgp_gobgp_conf a 127.0.0.2 1790 ipv4-unicast l3vpn-ipv4-unicast
GOBGP_ID=10.0.0.3 GOBGP_PEER=127.0.0.1 bgp_gobgp_conf b 127.0.0.3 1791 ipv4-unicast l3vpn-ipv4-unicast
GOBGP_ID=10.0.0.4 GOBGP_PEER=fd00::1 bgp_gobgp_conf c fd00::3 1792 l3vpn-ipv4-unicast
for n in a b c; do
	port=$((50050 + $(printf '%d' "'$n") - 96))
	tl_start "gobgpd-$n" "$ns" gobgpd -f "$TL_DIR/$n.toml" -t toml --api-hosts "127.0.0.1:$port"
	eval "API_$n=$port"
done
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --log-level debug
TERN_PID=$TL_LAST_PID

gb() { local n=$1; shift; local v="API_$n"; ip netns exec "$ns" gobgp -u 127.0.0.1 -p "${!v}" "$@"; }

for p in 127.0.0.2 127.0.0.3 fd00::3; do
	tl_wait "session with $p Established" 40 established "$p"
	tl_log "PASS session with $p Established"
done
"$CTL" bgp neighbors --socket "$SOCK"

# A injects two VPNv4 routes and one IPv4 route.
gb a global rib -a vpnv4 add 10.2.0.0/24 label 200 rd 65001:100 rt 65001:100 encap mpls-in-udp origin igp nexthop 127.0.0.2 ||
	tl_fail "gobgp A: cannot add a vpnv4 route"
gb a global rib -a vpnv4 add 10.2.1.0/24 label 201 rd 10.0.0.2:7 rt 65001:200 nexthop 127.0.0.2 ||
	tl_fail "gobgp A: cannot add a second vpnv4 route"
gb a global rib -a ipv4 add 10.9.0.0/16 nexthop 192.0.2.2 || tl_fail "gobgp A: cannot add an ipv4 route"

check_tern_rib() {
	"$CTL" bgp rib -a vpnv4 --socket "$SOCK" -o json >"$TL_DIR/rib.json" || return 1
	/usr/bin/python3 - "$TL_DIR/rib.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = {(x["rd"], x["prefix"]): x for x in d["routes"]}
a = r[("65001:100", "10.2.0.0/24")]["paths"][0]
assert a["peer"] == "127.0.0.2" and a["best"], a
assert a["label"] == 200, a
assert a["next_hop"] == "127.0.0.2", a
assert "rt:65001:100" in a["ext_communities"], a
assert "encap:mpls-in-udp" in a["ext_communities"], a
assert a["origin"] == "igp" and a["as_path"] == [] and a["local_pref"] == 100, a
b = r[("10.0.0.2:7", "10.2.1.0/24")]["paths"][0]
assert b["label"] == 201 and b["ext_communities"] == ["rt:65001:200"], b
PY
}
tl_wait "the VPNv4 routes in tern's RIB" 20 check_tern_rib
tl_log "PASS tern's VPNv4 RIB: RD, label, next hop, RT, encapsulation"
"$CTL" bgp rib -a vpnv4 --socket "$SOCK"
"$CTL" bgp rib -a ipv4 --socket "$SOCK" -o json | grep -q '"10.9.0.0/16"' ||
	tl_fail "IPv4 route 10.9.0.0/16 not in tern's RIB"

# B and C receive them reflected: ORIGINATOR_ID 10.0.0.2, CLUSTER_LIST [10.0.0.100].
check_reflected() { # NAME
	gb "$1" global rib -a vpnv4 -j >"$TL_DIR/$1-rib.json" 2>&1 || return 1
	/usr/bin/python3 - "$TL_DIR/$1-rib.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
found = 0
for key, paths in d.items():
    for p in paths:
        if "10.2.0.0/24" not in key and "10.2.0.0/24" not in json.dumps(p.get("nlri", {})):
            continue
        attrs = {a["type"]: a for a in p["attrs"]}
        assert attrs[9]["value"] == "10.0.0.2", attrs[9]          # ORIGINATOR_ID
        assert attrs[10]["value"] == ["10.0.0.100"], attrs[10]    # CLUSTER_LIST
        s = json.dumps(p)
        assert "65001:100" in s and "200" in s, s                 # RD / RT, label
        found += 1
assert found == 1, d
PY
}
tl_wait "the reflected route at gobgp B" 20 check_reflected b
tl_log "PASS B got 10.2.0.0/24 with ORIGINATOR_ID and CLUSTER_LIST (IPv4 transport)"
tl_wait "the reflected route at gobgp C" 20 check_reflected c
tl_log "PASS C got 10.2.0.0/24 with ORIGINATOR_ID and CLUSTER_LIST (IPv6 transport)"
gb b global rib -a vpnv4

# Withdrawal travels too.
gb a global rib -a vpnv4 del 10.2.0.0/24 label 200 rd 65001:100 rt 65001:100 encap mpls-in-udp origin igp nexthop 127.0.0.2 ||
	tl_fail "gobgp A: cannot delete the route"
gone_at_b() { ! gb b global rib -a vpnv4 | grep -q "10.2.0.0/24"; }
tl_wait "the withdrawal at gobgp B" 20 gone_at_b
tl_log "PASS withdrawal reflected"

kill -0 "$TERN_PID" || tl_fail "tern-control died"
grep -c "Established" "$TL_DIR/tern-control.log" | sed 's/^/tern-control: Established lines: /'
tl_log "bgp_gobgp: all checks passed"
