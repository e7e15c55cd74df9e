#!/usr/bin/env bash
# tests/e2e/bgp_evpn.sh — EVPN (AFI 25 / SAFI 70) through tern-control as a
# route reflector between two gobgpd, in a namespace of their own:
#   gobgpd A 10.0.0.3  <-- iBGP -->  tern 10.0.0.1  <-- iBGP -->  gobgpd B 10.0.0.4
# A originates a MAC/IP advertisement (type 2), an inclusive multicast route
# (type 3) and an IP prefix route (type 5, RFC 9136); tern's RIB must show
# every key field, label and community right, and B must receive the three
# reflected with the same fields. A withdrawal travels too.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
tl_init
bgp_lab_need
ns=$(tl_netns bgpevpn)
for a in 10.0.0.1/32 10.0.0.3/32 10.0.0.4/32; do ip -n "$ns" addr add "$a" dev lo; done
SOCK=$TL_DIR/ctl.sock

cat >"$TL_DIR/tern.conf" <<CONF
router-id 10.0.0.1
as 65000
cluster-id 10.0.0.100
listen 10.0.0.1 179
hold-time 30
connect-retry 1
control-socket $SOCK

[neighbor 10.0.0.3]
as 65000
port 1790
local-address 10.0.0.1
families evpn
rr-client

[neighbor 10.0.0.4]
as 65000
port 1791
local-address 10.0.0.1
families evpn
rr-client
CONF

bgp_gobgp_conf a 10.0.0.3 1790 l2vpn-evpn
bgp_gobgp_conf b 10.0.0.4 1791 l2vpn-evpn
tl_start gobgpd-a "$ns" gobgpd -f "$TL_DIR/a.toml" -t toml --api-hosts 127.0.0.1:50101
tl_start gobgpd-b "$ns" gobgpd -f "$TL_DIR/b.toml" -t toml --api-hosts 127.0.0.1:50102
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --log-level debug
TERN_PID=$TL_LAST_PID
ga() { ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50101 "$@"; }
gbb() { ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50102 "$@"; }
for p in 10.0.0.3 10.0.0.4; do
	tl_wait "session with $p Established" 40 established "$p"
	tl_log "PASS session with $p Established (EVPN negotiated)"
done

MACADV=(macadv 00:11:22:33:44:55 10.0.0.10 etag 0 label 100 rd 65000:100 rt 65000:100 encap vxlan nexthop 10.0.0.3)
ga global rib -a evpn add "${MACADV[@]}" || tl_fail "gobgp A: cannot add the macadv route"
ga global rib -a evpn add multicast 10.0.0.3 etag 10 rd 65000:100 rt 65000:100 encap vxlan nexthop 10.0.0.3 ||
	tl_fail "gobgp A: cannot add the multicast route"
ga global rib -a evpn add prefix 10.1.2.0/24 gw 0.0.0.0 etag 0 label 200 rd 65000:200 rt 65000:200 encap vxlan nexthop 10.0.0.3 ||
	tl_fail "gobgp A: cannot add the prefix route"

check_tern() {
	"$CTL" bgp rib -a evpn --socket "$SOCK" -o json >"$TL_DIR/rib.json" || return 1
	/usr/bin/python3 - "$TL_DIR/rib.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = {x["route_type"]: x for x in d["routes"]}
assert sorted(r) == [2, 3, 5], r.keys()
t2 = r[2]
assert t2["rd"] == "65000:100" and t2["mac"] == "00:11:22:33:44:55", t2
assert t2["ip"] == "10.0.0.10" and t2["eth_tag"] == 0, t2
p = t2["paths"][0]
assert p["peer"] == "10.0.0.3" and p["best"] and p["next_hop"] == "10.0.0.3", p
assert p["vni"] == 100, p        # gobgp puts the label as a 24-bit VNI for VXLAN
assert "rt:65000:100" in p["ext_communities"] and "encap:vxlan" in p["ext_communities"], p
t3 = r[3]
assert t3["rd"] == "65000:100" and t3["eth_tag"] == 10 and t3["ip"] == "10.0.0.3", t3
assert "label" not in t3["paths"][0], t3
t5 = r[5]
assert t5["rd"] == "65000:200" and t5["prefix"] == "10.1.2.0/24", t5
assert t5["gateway"] == "0.0.0.0" and t5["esi"] == "00:00:00:00:00:00:00:00:00:00", t5
p = t5["paths"][0]
assert p["vni"] == 200 and "rt:65000:200" in p["ext_communities"], p
PY
}
tl_wait "the EVPN routes in tern's RIB" 20 check_tern
tl_log "PASS tern's EVPN RIB: types 2, 3, 5 with RD, MAC, IP, tag, prefix, gateway, label, RT, encap"
"$CTL" bgp rib -a evpn --socket "$SOCK"

check_b() {
	gbb global rib -a evpn -j >"$TL_DIR/b.json" 2>&1 || return 1
	/usr/bin/python3 - "$TL_DIR/b.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
keys = sorted(d)
want = ["[type:macadv][rd:65000:100][etag:0][mac:00:11:22:33:44:55][ip:10.0.0.10]",
        "[type:multicast][rd:65000:100][etag:10][ip:10.0.0.3]"]
for w in want:
    assert w in d, (w, keys)
pfx = [k for k in d if "type:Prefix" in k or "type:prefix" in k.lower()]
assert len(pfx) == 1 and "10.1.2.0/24" in pfx[0] and "65000:200" in pfx[0], keys
for k, paths in d.items():
    assert len(paths) == 1, paths
    p = paths[0]
    attrs = {a["type"]: a for a in p["attrs"]}
    assert attrs[9]["value"] == "10.0.0.3", attrs.get(9)        # ORIGINATOR_ID
    assert attrs[10]["value"] == ["10.0.0.100"], attrs.get(10)  # CLUSTER_LIST
    assert attrs[14]["nexthop"] == "10.0.0.3", attrs[14]
    ec = attrs[16]["value"]
    assert {"type": 3, "subtype": 12, "tunnel_type": 8} in ec, ec       # encap VXLAN
    rt = "65000:200" if "Prefix" in k else "65000:100"
    assert {"type": 0, "subtype": 2, "value": rt} in ec, ec
assert d[want[0]][0]["nlri"]["value"]["labels"] == [100], d[want[0]]
v5 = d[pfx[0]][0]["nlri"]["value"]
assert v5["label"] == 200 and v5["gateway"] == "0.0.0.0" and v5["esi"] == "single-homed", v5
PY
}
tl_wait "the reflected EVPN routes at gobgp B" 20 check_b
tl_log "PASS B got the three EVPN routes with ORIGINATOR_ID, CLUSTER_LIST, next hop, RT, encap"
gbb global rib -a evpn

ga global rib -a evpn del "${MACADV[@]}" || tl_fail "gobgp A: cannot delete the macadv route"
gone_at_b() { ! gbb global rib -a evpn | grep -q "00:11:22:33:44:55"; }
tl_wait "the withdrawal at gobgp B" 20 gone_at_b
tl_log "PASS withdrawal of the MAC/IP route reflected"
kill -0 "$TERN_PID" || tl_fail "tern-control died"
tl_log "bgp_evpn: all checks passed"
