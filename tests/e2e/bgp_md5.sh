#!/usr/bin/env bash
# tests/e2e/bgp_md5.sh — TCP MD5 signatures (RFC 2385, the kernel's
# TCP_MD5SIG) on tern-control's sessions, in a namespace of their own:
#   gobgpd A 10.0.0.3 passive    <-- tern connects (active), same password
#   gobgpd B 10.0.0.4            --> tern waits (passive), same password
#   gobgpd C 10.0.0.5            <-> wrong password: never Established
#   FRR      fd00::2             <-> IPv6 transport, same password
# Routes still flow over the signed sessions (A's route reaches B).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
tl_init
bgp_lab_need
FRR_BGPD=/usr/lib/frr/bgpd
HAVE_FRR=0
[ -x "$FRR_BGPD" ] && command -v vtysh >/dev/null && HAVE_FRR=1
ns=$(tl_netns bgpmd5)
for a in 10.0.0.1/32 10.0.0.3/32 10.0.0.4/32 10.0.0.5/32; do ip -n "$ns" addr add "$a" dev lo; done
for a in fd00::1/128 fd00::2/128; do ip -n "$ns" addr add "$a" dev lo nodad; done
SOCK=$TL_DIR/ctl.sock
PW=tern-md5-Secret

cat >"$TL_DIR/tern.conf" <<CONF
router-id 10.0.0.1
as 65000
listen 10.0.0.1 179
listen fd00::1 179
hold-time 30
connect-retry 1
control-socket $SOCK

[neighbor 10.0.0.3]
as 65000
port 1790
local-address 10.0.0.1
families vpnv4
rr-client
password $PW

[neighbor 10.0.0.4]
as 65000
port 1791
families vpnv4
passive
rr-client
password $PW

[neighbor 10.0.0.5]
as 65000
port 1792
local-address 10.0.0.1
families vpnv4
password $PW

[neighbor fd00::2]
as 65002
port 1179
local-address fd00::1
families vpnv6
password $PW
CONF

gobgp_conf() { # NAME ADDR PORT PASSWORD PASSIVE
	GOBGP_NB="    auth-password = \"$4\"" GOBGP_TRANSPORT="    passive-mode = $5" \
		bgp_gobgp_conf "$1" "$2" "$3" l3vpn-ipv4-unicast
}
gobgp_conf a 10.0.0.3 1790 "$PW" true
gobgp_conf b 10.0.0.4 1791 "$PW" false
gobgp_conf c 10.0.0.5 1792 "not-$PW" false
tl_start gobgpd-a "$ns" gobgpd -f "$TL_DIR/a.toml" -t toml --api-hosts 127.0.0.1:50091
tl_start gobgpd-b "$ns" gobgpd -f "$TL_DIR/b.toml" -t toml --api-hosts 127.0.0.1:50092
tl_start gobgpd-c "$ns" gobgpd -f "$TL_DIR/c.toml" -t toml --api-hosts 127.0.0.1:50093

if [ "$HAVE_FRR" = 1 ]; then
	FRR_DIR=$TL_DIR/frr
	mkdir -p "$FRR_DIR"
	cat >"$FRR_DIR/bgpd.conf" <<CONF
hostname tern-frr-md5
log stdout informational
router bgp 65002
 bgp router-id 10.0.0.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor fd00::1 remote-as 65000
 neighbor fd00::1 update-source fd00::2
 neighbor fd00::1 disable-connected-check
 neighbor fd00::1 timers connect 1
 neighbor fd00::1 password $PW
 address-family ipv6 vpn
  neighbor fd00::1 activate
 exit-address-family
CONF
	chmod -R a+rwX "$FRR_DIR"
	tl_start frr-bgpd "$ns" "$FRR_BGPD" -f "$FRR_DIR/bgpd.conf" -i "$FRR_DIR/bgpd.pid" \
		--vty_socket "$FRR_DIR" -Z -n -S -p 1179 -l fd00::2 -P 0
fi
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --log-level debug
TERN_PID=$TL_LAST_PID


tl_wait "signed session with 10.0.0.3 (tern active) Established" 40 established 10.0.0.3
tl_log "PASS MD5, tern active: 10.0.0.3 Established"
tl_wait "signed session with 10.0.0.4 (tern passive) Established" 40 established 10.0.0.4
tl_log "PASS MD5, tern passive: 10.0.0.4 Established"
if [ "$HAVE_FRR" = 1 ]; then
	tl_wait "signed session with FRR over IPv6 Established" 40 established fd00::2
	tl_log "PASS MD5 with FRR over IPv6: fd00::2 Established"
else
	tl_log "FRR not installed: the IPv6/FRR MD5 check is left out"
fi

# Traffic over signed sessions.
ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50091 global rib -a vpnv4 add 10.2.0.0/24 label 200 \
	rd 65000:100 rt 65000:100 nexthop 10.0.0.3 || tl_fail "gobgp A: cannot add a route"
at_b() { ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50092 global rib -a vpnv4 | grep -q 10.2.0.0/24; }
tl_wait "A's route at B through tern" 20 at_b
tl_log "PASS a route crosses two signed sessions"

# The wrong password: still not Established after several connect retries.
sleep 6
st=$(state_of 10.0.0.5)
[ "$st" != Established ] || tl_fail "10.0.0.5 with a wrong password reached Established"
ip netns exec "$ns" gobgp -u 127.0.0.1 -p 50093 neighbor 10.0.0.1 | grep -qi "BGP state = established" &&
	tl_fail "gobgp C thinks it is Established with a wrong password"
tl_log "PASS wrong password: 10.0.0.5 stays $st"

kill -0 "$TERN_PID" || tl_fail "tern-control died"
grep -q "$PW" "$TL_DIR/tern-control.log" && tl_fail "the password appears in tern-control's log"
tl_log "bgp_md5: all checks passed"
