#!/usr/bin/env bash
# tests/e2e/bgp_instances.sh — routing instances of tern-control: one gobgpd
# (iBGP, route-reflector client) sends VPNv4/VPNv6 routes with various route
# targets; each instance's Loc-RIB (`ternctl bgp rib --instance NAME`) must
# hold exactly the routes whose targets it imports. The routes instance
# "blue" originates go out as VPN routes with its RD and export target, and
# land in every instance importing that target (blue itself).
#   gobgpd 10.0.0.3 AS 65000  <-- iBGP -->  tern 10.0.0.1 AS 65000
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
tl_init
bgp_lab_need
ns=$(tl_netns bgpvrf)
for a in 10.0.0.1/32 10.0.0.3/32; do ip -n "$ns" addr add "$a" dev lo; done
for a in fd00::1/128 fd00::3/128; do ip -n "$ns" addr add "$a" dev lo nodad; done
SOCK=$TL_DIR/ctl.sock

cat >"$TL_DIR/tern.conf" <<CONF
router-id 10.0.0.1
as 65000
listen 10.0.0.1 179
hold-time 30
connect-retry 1
control-socket $SOCK

[neighbor 10.0.0.3]
as 65000
port 1790
local-address 10.0.0.1
families vpnv4 vpnv6
rr-client

[instance red]
import-target 65000:1

[instance blue]
rd 65000:20
import-target 65000:2 10.0.0.9:2
export-target 65000:2
route 10.20.0.0/24 label 1000 next-hop 10.0.0.1
route 2001:db8:20::/64 label 1001 next-hop fd00::1
CONF

cat >"$TL_DIR/gobgp.toml" <<'CONF'
[global.config]
  as = 65000
  router-id = "10.0.0.3"
  port = 1790
  local-address-list = ["10.0.0.3"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.0.0.1"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 1
  [neighbors.transport.config]
    local-address = "10.0.0.3"
    remote-port = 179
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l3vpn-ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l3vpn-ipv6-unicast"
CONF

tl_start gobgpd "$ns" gobgpd -f "$TL_DIR/gobgp.toml" -t toml --api-hosts 127.0.0.1:50081
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --log-level debug
TERN_PID=$TL_LAST_PID
gb() { ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50081 "$@"; }
established() {
	"$CTL" bgp neighbors --socket "$SOCK" -o json | /usr/bin/python3 -c \
		"import json,sys; d=json.load(sys.stdin); assert d['neighbors'][0]['state']=='Established'"
}
tl_wait "session with gobgpd Established" 40 established
tl_log "PASS session Established"

add4() { gb global rib -a vpnv4 add "$@" nexthop 10.0.0.3 || tl_fail "gobgp: cannot add vpnv4 $1"; }
add4 10.1.0.0/24 label 100 rd 65000:100 rt 65000:1
add4 10.2.0.0/24 label 200 rd 65000:200 rt 65000:2
add4 10.3.0.0/24 label 300 rd 65000:300 rt 65000:1 65000:2
add4 10.4.0.0/24 label 400 rd 65000:400 rt 65000:9
add4 10.5.0.0/24 label 500 rd 10.0.0.3:5 rt 10.0.0.9:2
gb global rib -a vpnv6 add 2001:db8:1::/64 label 101 rd 65000:101 rt 65000:1 nexthop fd00::3 ||
	tl_fail "gobgp: cannot add vpnv6"

check_instance() { # NAME FAMILY PREFIX...
	local name=$1 fam=$2
	shift 2
	"$CTL" bgp rib -a "$fam" --instance "$name" --socket "$SOCK" -o json \
		>"$TL_DIR/$name-$fam.json" || return 1
	/usr/bin/python3 - "$TL_DIR/$name-$fam.json" "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
got = sorted(r["prefix"] for r in d["routes"])
want = sorted(sys.argv[2:])
assert got == want, (got, want)
PY
}
tl_wait "red's IPv4 routes" 20 check_instance red ipv4 10.1.0.0/24 10.3.0.0/24
tl_log "PASS instance red (import 65000:1) holds 10.1.0.0/24 and 10.3.0.0/24 only"
tl_wait "blue's IPv4 routes" 20 check_instance blue ipv4 10.2.0.0/24 10.3.0.0/24 10.5.0.0/24 10.20.0.0/24
tl_log "PASS instance blue (import 65000:2, 10.0.0.9:2) holds 10.2, 10.3, 10.5 and its own 10.20"
tl_wait "red's IPv6 routes" 20 check_instance red ipv6 2001:db8:1::/64
tl_wait "blue's IPv6 routes" 20 check_instance blue ipv6 2001:db8:20::/64
tl_log "PASS IPv6: red holds 2001:db8:1::/64, blue its own 2001:db8:20::/64"
"$CTL" bgp rib -a ipv4 --instance blue --socket "$SOCK"

/usr/bin/python3 - "$TL_DIR/blue-ipv4.json" <<'PY' || tl_fail "blue's paths: wrong fields"
import json, sys
d = json.load(open(sys.argv[1]))
r = {x["prefix"]: x["paths"] for x in d["routes"]}
p = r["10.2.0.0/24"][0]
assert p["rd"] == "65000:200" and p["label"] == 200 and p["peer"] == "10.0.0.3", p
assert p["next_hop"] == "10.0.0.3" and p["best"], p
own = r["10.20.0.0/24"][0]
assert own["peer"] == "local" and own["rd"] == "65000:20" and own["label"] == 1000, own
assert own["ext_communities"] == ["rt:65000:2"] and own["next_hop"] == "10.0.0.1", own
PY
tl_log "PASS instance paths keep RD, label, peer and next hop"

# blue's own routes reach gobgpd with RD 65000:20, label and export target.
check_gobgp() { # FAMILY PREFIX LABEL NEXTHOP
	gb global rib -a "$1" -j >"$TL_DIR/gobgp-$1.json" 2>&1 || return 1
	/usr/bin/python3 - "$TL_DIR/gobgp-$1.json" "$2" "$3" "$4" <<'PY'
import json, sys
f, pfx, label, nh = sys.argv[1:]
d = json.load(open(f))
ps = [p for k, v in d.items() for p in v if k == "65000:20:" + pfx]
assert len(ps) == 1, d.keys()
p = ps[0]
assert p["nlri"]["labels"] == [int(label)], p
assert p["nlri"]["rd"] == {"type": 0, "admin": 65000, "assigned": 20}, p
attrs = {a["type"]: a for a in p["attrs"]}
assert attrs[16]["value"] == [{"type": 0, "subtype": 2, "value": "65000:2"}], attrs[16]
assert 9 not in attrs and 10 not in attrs, "ORIGINATOR_ID/CLUSTER_LIST on our own route"
assert attrs[14]["nexthop"] == nh and attrs[5]["value"] == 100 and attrs[1]["value"] == 0, attrs
PY
}
tl_wait "blue's 10.20.0.0/24 at gobgpd" 20 check_gobgp vpnv4 10.20.0.0/24 1000 10.0.0.1
tl_wait "blue's 2001:db8:20::/64 at gobgpd" 20 check_gobgp vpnv6 2001:db8:20::/64 1001 fd00::1
tl_log "PASS gobgpd got blue's routes: RD 65000:20, labels 1000/1001, RT 65000:2, no reflection attributes"

# A target change moves a route between instances; a withdrawal removes it.
gb global rib -a vpnv4 add 10.1.0.0/24 label 100 rd 65000:100 rt 65000:2 nexthop 10.0.0.3 ||
	tl_fail "gobgp: cannot re-add 10.1.0.0/24"
tl_wait "10.1.0.0/24 moved to blue" 20 check_instance blue ipv4 10.1.0.0/24 10.2.0.0/24 10.3.0.0/24 10.5.0.0/24 10.20.0.0/24
tl_wait "10.1.0.0/24 gone from red" 20 check_instance red ipv4 10.3.0.0/24
tl_log "PASS a route whose targets change moves from red to blue"
gb global rib -a vpnv4 del 10.3.0.0/24 label 300 rd 65000:300 rt 65000:1 65000:2 nexthop 10.0.0.3 ||
	tl_fail "gobgp: cannot delete 10.3.0.0/24"
tl_wait "10.3.0.0/24 withdrawn from red" 20 check_instance red ipv4
tl_log "PASS withdrawal empties red"

out=$("$CTL" bgp rib --instance nope --socket "$SOCK" 2>&1) && tl_fail "unknown instance accepted"
echo "$out" | grep -q "no routing instance 'nope'" || tl_fail "unknown instance: unclear error: $out"
tl_log "PASS unknown instance: $out"
kill -0 "$TERN_PID" || tl_fail "tern-control died"
tl_log "bgp_instances: all checks passed"
