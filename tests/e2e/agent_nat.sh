#!/usr/bin/env bash
# tests/e2e/agent_nat.sh — services and floating IPs the production way:
# tern-api holds them, tern-agent programs the vrouters, routes travel over
# BGP through tern-control, pods come from tern-cni. Two hosts:
#   h1: a1 and a2 on "red", z1 on "pub" (the public network)
#   h2: b1 on "red" (a backend), c1 on "red" (a client)
# A service web (TCP 80 -> 8080) over a1, a2 and b1: c1 (h2) reaches its VIP
# (allocated from red), every connection answered, the three backends used,
# the backends see c1's own address; a fourth backend added in tern-api
# reaches the vrouters; deleting the service removes it from both. A floating IP from a
# pool of "pub" for b1 (on h2): z1 (h1) reaches b1 at it across the hosts,
# and b1 reaches z1 from it; deleting it in tern-api stops both.
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
al_control h1 h2
al_networks red=10.1.0.0/24 pub=203.0.113.0/24
al_agent h1
al_agent h2
al_sessions_up 2

al_pod h1 a1 red
al_pod h1 a2 red
al_pod h1 z1 pub
al_pod h2 b1 red
al_pod h2 c1 red
tl_log "pods: a1 ${AL_POD_IP[a1]} a2 ${AL_POD_IP[a2]} z1 ${AL_POD_IP[z1]} b1 ${AL_POD_IP[b1]} c1 ${AL_POD_IP[c1]}"

for p in a1 a2 b1; do
	tl_start "srv-$p" "${AL_POD_NS[$p]}" "$PY" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(64)
while True:
    c, a = s.accept(); c.sendall((sys.argv[1] + " " + a[0]).encode()); c.close()' "$p"
done
for p in a1 a2 b1; do tl_wait "$p's server" 20 bash -c "ip netns exec ${AL_POD_NS[$p]} ss -ltn | grep -q ':8080 '"; done

svc() { # svc BACKEND...: the service web in red
	local b list=""
	for b in "$@"; do list="$list{address: ${AL_POD_IP[$b]}, port: 8080}, "; done
	printf 'kind: service\nproject: demo\nname: web\nvirtual_network: red\nport: 80\nprotocol: tcp\nbackends: [%s]\n' \
		"${list%, }" | al_apply
}
svc a1 a2 b1 || tl_fail "cannot create the service"
VIP=$(al_ctl get service web -p demo -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
d = d.get("items", [d])[0] if isinstance(d, dict) else d[0]
print(d["vip"])')
tl_log "service web: $VIP:80"
svc_in() { vl_ctl "$1" vr service list -o json | grep -q "\"$VIP\""; }
tl_wait "the service in h1's vrouter" 10 svc_in h1
tl_wait "the service in h2's vrouter" 10 svc_in h2
spread() { # spread POD N: "NAME=COUNT ... peer=ADDR..." from N connections to the VIP
	ip netns exec "${AL_POD_NS[$1]}" "$PY" -c '
import socket, sys, collections
c, peers = collections.Counter(), set()
for i in range(int(sys.argv[2])):
    try:
        s = socket.create_connection((sys.argv[1], 80), timeout=3)
        name, peer = s.recv(64).decode().split(); c[name] += 1; peers.add(peer); s.close()
    except (OSError, ValueError):
        c["failed"] += 1
print(" ".join("%s=%d" % kv for kv in sorted(c.items())), " ".join("peer=" + p for p in peers))' "$VIP" "$2"
}
out=$(spread c1 60)
tl_log "c1 -> $VIP:80 x60: $out"
tl_check "every connection answered" bash -c "! grep -q failed <<<'$out'"
for p in a1 a2 b1; do
	tl_check "backend $p took connections" grep -qE "\b$p=[1-9]" <<<"$out"
done
tl_check "the backends saw c1's own address" test "$(grep -o 'peer=[^ ]*' <<<"$out")" = "peer=${AL_POD_IP[c1]}"
flows=$(vl_ctl h2 vr flow list --port 80)
tl_check "h2's flows show the translation to backends" grep -q ':8080' <<<"$flows"

# A fourth backend through tern-api: the vrouters follow, new connections use it.
al_pod h2 b2 red
tl_start "srv-b2" "${AL_POD_NS[b2]}" "$PY" -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(64)
while True:
    c, a = s.accept(); c.sendall(("b2 " + a[0]).encode()); c.close()'
tl_wait "b2's server" 20 bash -c "ip netns exec ${AL_POD_NS[b2]} ss -ltn | grep -q ':8080 '"
svc a1 a2 b1 b2 || tl_fail "cannot update the service"
four() { vl_ctl h2 vr service list | grep -qE ' 4 *$'; }
tl_wait "h2's vrouter to hold four backends" 10 four
out=$(spread c1 80)
tl_log "c1 -> $VIP:80 x80 with four backends: $out"
tl_check "the new backend b2 takes connections" grep -qE '\bb2=[1-9]' <<<"$out"

# A floating IP of pub for b1 (on h2); z1 on h1 is on pub.
printf 'kind: floating-ip-pool\nproject: demo\nname: pub-pool\nvirtual_network: pub\n' | al_apply ||
	tl_fail "cannot create the pool"
FIP=$(al_fip b1-fip pub-pool b1) || tl_fail "no floating IP for b1"
tl_log "floating IP of b1: $FIP"
fip_in() { vl_ctl h2 vr fip list | grep -q "$FIP"; }
tl_wait "the floating IP in h2's vrouter" 10 fip_in
reach() { ip netns exec "${AL_POD_NS[z1]}" "$PY" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 8080), timeout=2); print(s.recv(64).decode())' "$FIP"; }
tl_wait "z1 (h1, pub) to reach b1 at $FIP" 15 reach
got=$(reach 2>&1)
tl_check "z1 reaches b1 at its floating IP, b1 sees z1's address ($got)" test "$got" = "b1 ${AL_POD_IP[z1]}"
tl_start "srv-z1" "${AL_POD_NS[z1]}" "$PY" -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9000)); s.listen(8)
while True:
    c, a = s.accept(); c.sendall(a[0].encode()); c.close()'
tl_wait "z1's server" 20 bash -c "ip netns exec ${AL_POD_NS[z1]} ss -ltn | grep -q ':9000 '"
seen=$(ip netns exec "${AL_POD_NS[b1]}" "$PY" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 9000), timeout=2); print(s.recv(64).decode())' "${AL_POD_IP[z1]}" 2>&1)
tl_check "b1 reaches z1 from its floating IP (z1 saw $seen)" test "$seen" = "$FIP"

al_ctl delete floating-ip b1-fip -p demo >/dev/null || tl_fail "cannot delete the floating IP"
gone() { ! fip_in; }
tl_wait "the floating IP to leave h2's vrouter" 10 gone
tl_check "z1 no longer reaches $FIP" bash -c "! ip netns exec ${AL_POD_NS[z1]} $PY -c 'import socket; socket.create_connection((\"$FIP\", 8080), timeout=1)' 2>/dev/null"
al_ctl delete service web -p demo >/dev/null || tl_fail "cannot delete the service"
nosvc() { ! svc_in h1 && ! svc_in h2; }
tl_wait "the service to leave both vrouters" 10 nosvc
exit 0
