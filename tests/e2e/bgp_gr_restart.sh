#!/usr/bin/env bash
# tests/e2e/bgp_gr_restart.sh — graceful restart with tern-control as the
# restarting speaker (RFC 4724 §4.1), FRR and gobgpd as helpers, in a
# namespace of their own:
#   gobgpd A 10.0.0.3 (rr-client, sends R1 R2) --+
#   gobgpd B 10.0.0.4 (rr-client, receives)    --+-- tern 10.0.0.1, AS 65000
#   FRR      10.0.0.2, AS 65002 (eBGP, sends R3) --+   graceful-restart restart-time 60
# tern reflects R1, R2 to B and FRR, R3 to A and B. SIGTERM: tern closes the
# sessions without NOTIFICATION and leaves its marker; B and FRR keep tern's
# routes as stale. tern starts again: R bit in its OPEN (FRR sees it), its
# routes wait for every peer's End-of-RIB, then go out with End-of-RIB: B and
# FRR hold them fresh again. A sampler shows that B and FRR never lost one.
# A second start long after a stop is a normal one (marker too old).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
tl_init
FRR_BGPD=/usr/lib/frr/bgpd
[ -x "$FRR_BGPD" ] && command -v vtysh >/dev/null || tl_skip "no FRR bgpd/vtysh (Debian package frr)"
bgp_lab_need
ns=$(tl_netns bgpgrr)
for a in 10.0.0.1/32 10.0.0.2/32 10.0.0.3/32 10.0.0.4/32; do ip -n "$ns" addr add "$a" dev lo; done
SOCK=$TL_DIR/ctl.sock
STATE=$TL_DIR/state
mkdir -p "$STATE"

cat >"$TL_DIR/tern.conf" <<CONF
router-id 10.0.0.1
as 65000
listen 10.0.0.1 179
hold-time 30
connect-retry 1
startup-defer 20
graceful-restart restart-time 60
state-dir $STATE
control-socket $SOCK

[neighbor 10.0.0.2]
as 65002
port 1179
local-address 10.0.0.1
families vpnv4

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
CONF

FRR_DIR=$TL_DIR/frr
mkdir -p "$FRR_DIR"
cat >"$FRR_DIR/bgpd.conf" <<'CONF'
hostname tern-frr
log stdout informational
!
route-map SETRT permit 10
 set extcommunity rt 65002:100
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
 neighbor 10.0.0.1 graceful-restart-helper
 !
 address-family ipv4 vpn
  network 10.43.0.0/24 rd 65002:43 label 430 route-map SETRT
  neighbor 10.0.0.1 activate
 exit-address-family
!
CONF
chmod -R a+rwX "$FRR_DIR"

gobgp_conf() { # NAME ADDR PORT: graceful restart, restart time 60 s
	GOBGP_TABLES=$'  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 60' \
		GOBGP_AFI=$'    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true' \
		bgp_gobgp_conf "$1" "$2" "$3" l3vpn-ipv4-unicast
}
gobgp_conf a 10.0.0.3 1790
gobgp_conf b 10.0.0.4 1791
tl_start frr-bgpd "$ns" "$FRR_BGPD" -f "$FRR_DIR/bgpd.conf" -i "$FRR_DIR/bgpd.pid" \
	--vty_socket "$FRR_DIR" -Z -n -S -p 1179 -l 10.0.0.2 -P 0
tl_start gobgpd-a "$ns" gobgpd -f "$TL_DIR/a.toml" -t toml --api-hosts 127.0.0.1:50121
tl_start gobgpd-b "$ns" gobgpd -f "$TL_DIR/b.toml" -t toml --api-hosts 127.0.0.1:50122
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --log-level debug
TERN_PID=$TL_LAST_PID

vty() { ip netns exec "$ns" vtysh --vty_socket "$FRR_DIR" "$@"; }
ga() { ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50121 "$@"; }
gbb() { ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50122 "$@"; }
for p in 10.0.0.2 10.0.0.3 10.0.0.4; do
	tl_wait "session with $p Established" 40 established "$p"
done
tl_log "PASS three sessions Established"

ga global rib -a vpnv4 add 10.41.0.0/24 label 410 rd 65000:41 rt 65000:41 nexthop 10.0.0.3 ||
	tl_fail "gobgp A: cannot add R1"
ga global rib -a vpnv4 add 10.42.0.0/24 label 420 rd 65000:42 rt 65000:42 nexthop 10.0.0.3 ||
	tl_fail "gobgp A: cannot add R2"

# "N S": how many of R1 R2 R3 B holds, how many of them stale.
b_state() {
	gbb global rib -a vpnv4 -j 2>/dev/null | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
n = s = 0
for k, paths in d.items():
    if any(x in k for x in ("10.41.0.0/24", "10.42.0.0/24", "10.43.0.0/24")):
        n += 1
        s += any(p.get("stale") for p in paths)
print(n, s)'
}
# "N S": how many of R1 R2 FRR holds from tern, how many stale.
frr_state() {
	vty -c "show bgp ipv4 vpn json" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
n = s = 0
for rd, pfx in d.get("routes", {}).get("routeDistinguishers", {}).items():
    for k, paths in pfx.items():
        if k in ("10.41.0.0/24", "10.42.0.0/24"):
            n += 1
            s += any(p.get("stale") for p in paths)
print(n, s)'
}
b_is() { [ "$(b_state)" = "$1" ]; }
frr_is() { [ "$(frr_state)" = "$1" ]; }
tl_wait "R1 R2 R3 at B" 30 b_is "3 0"
tl_wait "R1 R2 at FRR" 30 frr_is "2 0"
tl_log "PASS B holds R1 R2 R3, FRR holds R1 R2 (through tern)"

frr_nb() { vty -c "show bgp neighbors 10.0.0.1 json"; }
frr_nb >"$TL_DIR/frr-nb-before.json"
/usr/bin/python3 - "$TL_DIR/frr-nb-before.json" <<'PY' || tl_fail "FRR does not see tern's graceful restart capability (restart time 60)"
import json, sys
g = json.load(open(sys.argv[1]))["10.0.0.1"]["gracefulRestartInfo"]
print("FRR before:", json.dumps(g))
assert g["timers"]["receivedRestartTimer"] == 60, g
PY
tl_log "PASS FRR sees tern's restart time 60"

# Sample what B and FRR hold from now until the end.
sampler() {
	while :; do
		echo "$(date +%s.%N) b=$(b_state | tr ' ' /) frr=$(frr_state | tr ' ' /)"
		sleep 0.3
	done
}
sampler >"$TL_DIR/samples.txt" 2>&1 &
SAMPLER=$!
TL_PIDS+=("$SAMPLER")

kill -TERM "$TERN_PID"
for i in $(seq 50); do kill -0 "$TERN_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$TERN_PID" 2>/dev/null && tl_fail "tern-control did not stop on SIGTERM"
wait "$TERN_PID"
rc=$?
[ "$rc" = 0 ] || tl_fail "tern-control exited $rc on SIGTERM"
grep "graceful stop" "$TL_DIR/tern-control.log" || tl_fail "no graceful stop in tern's log"
[ -f "$STATE/graceful-restart" ] || tl_fail "no marker $STATE/graceful-restart"
tl_log "PASS SIGTERM: graceful stop, marker $(cat "$STATE/graceful-restart")"
grep -q "Cease" "$TL_DIR/frr-bgpd.log" && tl_fail "FRR got a NOTIFICATION"

tl_wait "B: tern's routes stale" 20 b_is "3 3"
tl_wait "FRR: tern's routes stale" 20 frr_is "2 2"
sleep 3
tl_check "B still holds them 3 s later" b_is "3 3"
tl_check "FRR still holds them 3 s later" frr_is "2 2"
tl_log "PASS during the restart B and FRR keep tern's routes as stale"

mv "$TL_DIR/tern-control.log" "$TL_DIR/tern-control-1.log"
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --log-level debug
TERN_PID=$TL_LAST_PID
restarting() { grep -q "graceful restart: stopped" "$TL_DIR/tern-control.log"; }
tl_wait "tern: a graceful restart" 10 restarting
grep "graceful restart: stopped" "$TL_DIR/tern-control.log"
[ -f "$STATE/graceful-restart" ] && tl_fail "the marker was not removed at start"
r_bit() {
	frr_nb >"$TL_DIR/frr-nb.json" || return 1
	/usr/bin/python3 - "$TL_DIR/frr-nb.json" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))["10.0.0.1"]
g = n["gracefulRestartInfo"]
assert n["bgpState"] == "Established", n["bgpState"]
assert g.get("rBit") is True, g
print("FRR after:", json.dumps(g))
PY
}
tl_wait "FRR: tern's OPEN has the R bit" 30 r_bit
tl_log "PASS FRR saw the R bit in tern's OPEN"
over() { grep -q "start-up over" "$TL_DIR/tern-control.log"; }
tl_wait "tern: start-up over" 30 over
grep "start-up over" "$TL_DIR/tern-control.log"
grep -q "start-up over (every neighbour sent its routes)" "$TL_DIR/tern-control.log" ||
	tl_fail "tern did not get every neighbour's End-of-RIB"
tl_wait "B: R1 R2 R3 fresh" 20 b_is "3 0"
tl_wait "FRR: R1 R2 fresh" 20 frr_is "2 0"
tl_log "PASS after the restart B and FRR hold every route fresh"
sleep 1
kill "$SAMPLER"
wait "$SAMPLER" 2>/dev/null
# a sample where a query failed has an empty field; a missing route is a count below
lost=$(grep -Ec "b=[0-2]/|frr=[01]/" "$TL_DIR/samples.txt")
echo "$(wc -l <"$TL_DIR/samples.txt") samples, $lost with a route missing"
head -3 "$TL_DIR/samples.txt"; tail -3 "$TL_DIR/samples.txt"
[ "$lost" = 0 ] || { grep -E "b=[0-2]/|frr=[01]/" "$TL_DIR/samples.txt" | head; tl_fail "a route went missing"; }
tl_log "PASS no route lost at B or FRR during the restart"
ga global rib -a vpnv4 | grep -q "10.43.0.0/24" || tl_fail "A lost FRR's R3"

# A stop and a start too late: a normal start.
kill -TERM "$TERN_PID"
wait "$TERN_PID"
sed -i 's/^stopped [0-9]*/stopped 1000/' "$STATE/graceful-restart"
mv "$TL_DIR/tern-control.log" "$TL_DIR/tern-control-2.log"
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --log-level debug
TERN_PID=$TL_LAST_PID
normal() { grep -q "graceful restart: marker too old" "$TL_DIR/tern-control.log"; }
tl_wait "tern: an old marker means a normal start" 10 normal
tl_wait "session with 10.0.0.4 Established" 40 established 10.0.0.4
tl_wait "B: R1 R2 R3 fresh after a normal start" 40 b_is "3 0"
kill -0 "$TERN_PID" || tl_fail "tern-control died"
tl_log "bgp_gr_restart: all checks passed"
