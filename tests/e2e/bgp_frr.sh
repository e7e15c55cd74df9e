#!/usr/bin/env bash
# tests/e2e/bgp_frr.sh — tern-control peering with FRR's bgpd (Debian frr,
# started by hand, no zebra, no systemd) and one gobgpd, all inside a
# namespace of their own with non-127 addresses on its loopback (FRR treats
# 127/8 next hops as martians):
#   FRR    10.0.0.2 / fd00::2, AS 65002  <-- eBGP -->  tern 10.0.0.1 / fd00::1, AS 65000
#          (VPNv4 over IPv4 transport, VPNv6 over IPv6 transport)
#   gobgpd 10.0.0.3, AS 65000, rr-client  <-- iBGP -->  tern
# FRR originates VPNv4 and VPNv6 routes (label, RD, two RTs): they must appear
# in tern's RIB with every field right. gobgpd originates VPNv4/VPNv6 routes
# with the MPLSoUDP encapsulation community: tern must send them on to FRR,
# where `show bgp ipv4|ipv6 vpn json` shows label, RD, RT and ET:13.
# FRR 8.4 cannot set the encapsulation community by route-map, so the
# encapsulation of an FRR-originated route is not tested here (bgp_gobgp.sh
# covers it for received routes).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
tl_init
FRR_BGPD=/usr/lib/frr/bgpd
[ -x "$FRR_BGPD" ] && command -v vtysh >/dev/null || tl_skip "no FRR bgpd/vtysh (Debian package frr)"
bgp_lab_need
ns=$(tl_netns bgpfrr)
for a in 10.0.0.1/32 10.0.0.2/32 10.0.0.3/32; do ip -n "$ns" addr add "$a" dev lo; done
for a in fd00::1/128 fd00::2/128 fd00::3/128; do ip -n "$ns" addr add "$a" dev lo nodad; done
SOCK=$TL_DIR/ctl.sock

cat >"$TL_DIR/tern.conf" <<CONF
router-id 10.0.0.1
as 65000
cluster-id 10.0.0.100
listen 10.0.0.1 179
listen fd00::1 179
hold-time 30
connect-retry 1
control-socket $SOCK

[neighbor 10.0.0.2]
as 65002
port 1179
local-address 10.0.0.1
families vpnv4

[neighbor fd00::2]
as 65002
port 1179
local-address fd00::1
families vpnv6

[neighbor 10.0.0.3]
as 65000
port 1790
local-address 10.0.0.1
families vpnv4 vpnv6
rr-client
CONF

# FRR: VPN routes originated by `network ... rd ... label ...` (no VRF, no
# zebra needed); `-S` skips the frrvty group check that fails as root.
FRR_DIR=$TL_DIR/frr
mkdir -p "$FRR_DIR"
cat >"$FRR_DIR/bgpd.conf" <<'CONF'
hostname tern-frr
log stdout informational
!
route-map SETRT permit 10
 set extcommunity rt 65002:100 65002:101
!
route-map SETRT6 permit 10
 set extcommunity rt 65002:600
!
router bgp 65002
 bgp router-id 10.0.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 timers bgp 10 30
 neighbor 10.0.0.1 remote-as 65000
 neighbor 10.0.0.1 update-source 10.0.0.2
 neighbor 10.0.0.1 disable-connected-check
 neighbor 10.0.0.1 timers connect 1
 neighbor fd00::1 remote-as 65000
 neighbor fd00::1 update-source fd00::2
 neighbor fd00::1 disable-connected-check
 neighbor fd00::1 timers connect 1
 !
 address-family ipv4 vpn
  network 10.4.0.0/24 rd 65002:100 label 400 route-map SETRT
  neighbor 10.0.0.1 activate
 exit-address-family
 !
 address-family ipv6 vpn
  network 2001:db8:4::/64 rd 65002:600 label 600 route-map SETRT6
  neighbor fd00::1 activate
 exit-address-family
!
CONF
chmod -R a+rwX "$FRR_DIR"

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

tl_start frr-bgpd "$ns" "$FRR_BGPD" -f "$FRR_DIR/bgpd.conf" -i "$FRR_DIR/bgpd.pid" \
	--vty_socket "$FRR_DIR" -Z -n -S -p 1179 -l 10.0.0.2 -l fd00::2 -P 0
tl_start gobgpd "$ns" gobgpd -f "$TL_DIR/gobgp.toml" -t toml --api-hosts 127.0.0.1:50071
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --log-level debug
TERN_PID=$TL_LAST_PID

vty() { ip netns exec "$ns" vtysh --vty_socket "$FRR_DIR" "$@"; }
gb() { ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50071 "$@"; }
frr_established() { # NEIGHBOR: FRR's own view of the session
	vty -c "show bgp neighbors $1 json" | /usr/bin/python3 -c \
		"import json,sys; d=json.load(sys.stdin); assert d['$1']['bgpState']=='Established'"
}

for p in 10.0.0.2 fd00::2 10.0.0.3; do
	tl_wait "session with $p Established" 40 established "$p"
	tl_log "PASS tern: session with $p Established"
done
tl_wait "FRR: session with 10.0.0.1 Established" 10 frr_established 10.0.0.1
tl_wait "FRR: session with fd00::1 Established" 10 frr_established fd00::1
tl_log "PASS FRR: both sessions Established (IPv4 and IPv6 transport)"
"$CTL" bgp neighbors --socket "$SOCK"

# FRR -> tern: every field of the two routes FRR originated.
check_tern_rib() {
	"$CTL" bgp rib -a vpnv4 --socket "$SOCK" -o json >"$TL_DIR/rib4.json" || return 1
	"$CTL" bgp rib -a vpnv6 --socket "$SOCK" -o json >"$TL_DIR/rib6.json" || return 1
	/usr/bin/python3 - "$TL_DIR/rib4.json" "$TL_DIR/rib6.json" <<'PY'
import json, sys
def paths(f, rd, pfx, peer):
    d = json.load(open(f))
    r = {(x["rd"], x["prefix"]): x for x in d["routes"]}
    return [p for p in r[(rd, pfx)]["paths"] if p["peer"] == peer]
a = paths(sys.argv[1], "65002:100", "10.4.0.0/24", "10.0.0.2")
assert len(a) == 1, a
a = a[0]
assert a["label"] == 400, a
assert a["next_hop"] == "10.0.0.2", a
assert sorted(a["ext_communities"]) == ["rt:65002:100", "rt:65002:101"], a
assert a["origin"] == "igp" and a["as_path"] == [65002], a
assert "local_pref" not in a and a["best"], a
b = paths(sys.argv[2], "65002:600", "2001:db8:4::/64", "fd00::2")
assert len(b) == 1, b
b = b[0]
assert b["label"] == 600, b
assert b["next_hop"] == "fd00::2", b
assert b["ext_communities"] == ["rt:65002:600"], b
assert b["origin"] == "igp" and b["as_path"] == [65002] and b["best"], b
PY
}
tl_wait "FRR's VPNv4/VPNv6 routes in tern's RIB" 20 check_tern_rib
tl_log "PASS tern's RIB: FRR's VPNv4 and VPNv6 routes with label, RD, RTs, next hop, AS path"
"$CTL" bgp rib -a vpnv4 --socket "$SOCK"
"$CTL" bgp rib -a vpnv6 --socket "$SOCK"

# gobgpd -> tern -> FRR.
gb global rib -a vpnv4 add 10.3.0.0/24 label 300 rd 65000:300 rt 65000:300 encap mpls-in-udp nexthop 10.0.0.3 ||
	tl_fail "gobgp: cannot add a vpnv4 route"
gb global rib -a vpnv6 add 2001:db8:3::/64 label 301 rd 65000:301 rt 65000:301 encap mpls-in-udp nexthop fd00::3 ||
	tl_fail "gobgp: cannot add a vpnv6 route"

check_frr() { # AFI RD PREFIX LABEL RT NEXTHOP
	# The table lists RD and prefix; the per-prefix detail has label and
	# communities (the table's JSON leaves them out).
	vty -c "show bgp $1 vpn json" >"$TL_DIR/frr-$1.json" || return 1
	vty -c "show bgp $1 vpn rd $2 $3 json" >"$TL_DIR/frr-$1-detail.json" || return 1
	/usr/bin/python3 - "$TL_DIR/frr-$1.json" "$TL_DIR/frr-$1-detail.json" "$2" "$3" "$4" "$5" "$6" <<'PY'
import json, sys
f, fd, rd, pfx, label, rt, nh = sys.argv[1:]
d = json.load(open(f))
assert len(d["routes"]["routeDistinguishers"][rd][pfx]) == 1, d
ps = json.load(open(fd))[rd]["paths"]
assert len(ps) == 1, ps
p = ps[0]
assert p["remoteLabel"] == int(label), p
ec = p["extendedCommunity"]["string"].split()
assert sorted(ec) == sorted(["RT:" + rt, "ET:13"]), ec
assert p["nexthops"][0]["ip"] == nh, p["nexthops"]
assert p["aspath"]["string"] == "65000", p["aspath"]   # tern's AS prepended (eBGP)
assert p["peer"]["type"] == "external" and p["valid"], p
PY
}
tl_wait "gobgp's VPNv4 route at FRR" 20 check_frr ipv4 65000:300 10.3.0.0/24 300 65000:300 10.0.0.3
tl_log "PASS FRR got 10.3.0.0/24 via tern: RD 65000:300, label 300, RT, ET:13, next hop, AS path"
tl_wait "gobgp's VPNv6 route at FRR" 20 check_frr ipv6 65000:301 2001:db8:3::/64 301 65000:301 fd00::3
tl_log "PASS FRR got 2001:db8:3::/64 via tern: RD 65000:301, label 301, RT, ET:13, next hop, AS path"
vty -c "show bgp ipv4 vpn"

# FRR's routes reach gobgpd through tern (eBGP -> iBGP client).
at_gobgp() { gb global rib -a vpnv4 | grep -q "65002:100:10.4.0.0/24"; }
tl_wait "FRR's route at gobgpd" 20 at_gobgp
tl_log "PASS gobgpd got FRR's 10.4.0.0/24 through tern"

# Withdrawal reaches FRR.
gb global rib -a vpnv4 del 10.3.0.0/24 label 300 rd 65000:300 rt 65000:300 encap mpls-in-udp nexthop 10.0.0.3 ||
	tl_fail "gobgp: cannot delete the route"
gone_at_frr() { ! vty -c "show bgp ipv4 vpn" | grep -q "10.3.0.0/24"; }
tl_wait "the withdrawal at FRR" 20 gone_at_frr
tl_log "PASS withdrawal reached FRR"

kill -0 "$TERN_PID" || tl_fail "tern-control died"
flaps=$("$CTL" bgp neighbors --socket "$SOCK" -o json | /usr/bin/python3 -c \
	"import json,sys; print(sum(n.get('flaps',0) for n in json.load(sys.stdin)['neighbors']))")
[ "$flaps" = 0 ] || tl_fail "$flaps session flaps"
tl_log "bgp_frr: all checks passed"
