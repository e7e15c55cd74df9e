#!/usr/bin/env bash
# tests/e2e/bgp_gr.sh — graceful restart, tern-control as the receiving
# speaker (RFC 4724 §4.2), with gobgpd in a namespace of their own:
#   gobgpd A 10.0.0.3 (graceful restart, restart time 30 s)  -- tern 10.0.0.1 -- gobgpd B 10.0.0.4
# A sends two VPNv4 routes and dies without a NOTIFICATION (SIGKILL): tern
# keeps both as stale and B keeps them. A comes back in restarting mode
# (-r) and sends only one of them again, then End-of-RIB: that one is fresh
# again, the other is withdrawn from tern and from B. gobgpd C (restart time
# 3 s) dies and stays away: its stale route goes when the restart time ends.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
tl_init
bgp_lab_need
ns=$(tl_netns bgpgr)
for a in 10.0.0.1/32 10.0.0.3/32 10.0.0.4/32 10.0.0.5/32; do ip -n "$ns" addr add "$a" dev lo; done
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
families vpnv4
rr-client

[neighbor 10.0.0.4]
as 65000
port 1791
local-address 10.0.0.1
families vpnv4
rr-client

[neighbor 10.0.0.5]
as 65000
port 1792
local-address 10.0.0.1
families vpnv4
rr-client
CONF

gobgp_conf() { # NAME ADDR PORT GR ADMIN_DOWN [RESTART_TIME]
	GOBGP_NB="    admin-down = $5" \
		GOBGP_TABLES=$'  [neighbors.graceful-restart.config]\n    enabled = '$4$'\n    restart-time = '${6:-30} \
		GOBGP_AFI=$'    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = '$4 \
		bgp_gobgp_conf "$1" "$2" "$3" l3vpn-ipv4-unicast
}
gobgp_conf a 10.0.0.3 1790 true false
gobgp_conf a2 10.0.0.3 1790 true true
gobgp_conf b 10.0.0.4 1791 false false
gobgp_conf c 10.0.0.5 1792 true false 3
tl_start gobgpd-a "$ns" gobgpd -f "$TL_DIR/a.toml" -t toml --api-hosts 127.0.0.1:50111
A_PID=$TL_LAST_PID
tl_start gobgpd-b "$ns" gobgpd -f "$TL_DIR/b.toml" -t toml --api-hosts 127.0.0.1:50112
tl_start gobgpd-c "$ns" gobgpd -f "$TL_DIR/c.toml" -t toml --api-hosts 127.0.0.1:50113
C_PID=$TL_LAST_PID
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --log-level debug
TERN_PID=$TL_LAST_PID
ga() { ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50111 "$@"; }
gbb() { ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50112 "$@"; }
not_established() { [ "$(state_of "$1")" != Established ]; }
for p in 10.0.0.3 10.0.0.4 10.0.0.5; do
	tl_wait "session with $p Established" 40 established "$p"
done
tl_log "PASS three sessions Established"

R1=(10.31.0.0/24 label 310 rd 65000:31 rt 65000:31 nexthop 10.0.0.3)
R2=(10.32.0.0/24 label 320 rd 65000:32 rt 65000:32 nexthop 10.0.0.3)
ga global rib -a vpnv4 add "${R1[@]}" || tl_fail "gobgp A: cannot add R1"
ga global rib -a vpnv4 add "${R2[@]}" || tl_fail "gobgp A: cannot add R2"

rib_state() { # prints "prefix:stale" for each VPNv4 route of 10.0.0.3
	"$CTL" bgp rib -a vpnv4 --socket "$SOCK" -o json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
out = []
for r in d["routes"]:
    for p in r["paths"]:
        if p["peer"] == "10.0.0.3":
            out.append("%s:%s" % (r["prefix"], "stale" if p.get("stale") else "fresh"))
print(" ".join(sorted(out)))'
}
is_state() { [ "$(rib_state)" = "$1" ]; }
at_b() { gbb global rib -a vpnv4 | grep -c "10.3[12].0.0/24" | grep -qx "$1"; }
tl_wait "both routes in tern" 20 is_state "10.31.0.0/24:fresh 10.32.0.0/24:fresh"
tl_wait "both routes at B" 20 at_b 2
tl_log "PASS tern and B hold both routes"

kill -KILL "$A_PID"
tl_wait "tern to see A go" 20 not_established 10.0.0.3
tl_check "tern keeps A's routes as stale" is_state "10.31.0.0/24:stale 10.32.0.0/24:stale"
sleep 2
tl_check "B still has both routes" at_b 2
tl_check "still stale 2 s later" is_state "10.31.0.0/24:stale 10.32.0.0/24:stale"

# A restarts (R bit), its session held down until R1 is back in its RIB.
tl_start gobgpd-a2 "$ns" gobgpd -r -f "$TL_DIR/a2.toml" -t toml --api-hosts 127.0.0.1:50111
for i in $(seq 50); do ga global rib -a vpnv4 >/dev/null 2>&1 && break; sleep 0.2; done
ga global rib -a vpnv4 add "${R1[@]}" || tl_fail "restarted gobgp A: cannot add R1"
ga neighbor 10.0.0.1 enable || tl_fail "restarted gobgp A: cannot enable the neighbor"
tl_wait "A back" 40 established 10.0.0.3
tl_wait "R1 fresh, R2 gone after End-of-RIB" 30 is_state "10.31.0.0/24:fresh"
tl_log "PASS after the restart: R1 refreshed, R2 (not sent again) removed"
tl_wait "R2 withdrawn at B, R1 kept" 20 at_b 1
gbb global rib -a vpnv4 | grep -q "10.31.0.0/24" || tl_fail "B lost R1"
tl_log "PASS B: R1 kept, R2 withdrawn"
# C goes and does not come back within its restart time.
ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50113 global rib -a vpnv4 add 10.35.0.0/24 label 350 \
	rd 65000:35 rt 65000:35 nexthop 10.0.0.5 || tl_fail "gobgp C: cannot add a route"
c_route() { "$CTL" bgp rib -a vpnv4 --socket "$SOCK" -o json | grep -q '"10.35.0.0/24"'; }
tl_wait "C's route in tern" 20 c_route
kill -KILL "$C_PID"
tl_wait "tern to see C go" 20 not_established 10.0.0.5
tl_check "C's route kept (stale) at first" c_route
no_c_route() { ! c_route; }
tl_wait "C's stale route removed after its restart time (3 s)" 10 no_c_route
tl_log "PASS C's stale route removed when its restart time ran out"
grep -E "graceful restart" "$TL_DIR/tern-control.log"
kill -0 "$TERN_PID" || tl_fail "tern-control died"
tl_log "bgp_gr: all checks passed"
