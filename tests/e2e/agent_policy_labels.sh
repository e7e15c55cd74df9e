#!/usr/bin/env bash
# tests/e2e/agent_policy_labels.sh — network-policy rules that select
# interfaces by labels (tern-api, tern-control, two agents, pods by tern-cni):
# "front" and "back" joined by a policy that passes TCP 5432 from the
# interfaces labelled app=web (front) to those labelled app=db (back), and
# nothing else between the networks. web (h1, app=web) reaches db (h2,
# app=db) on 5432; other (h1, front, no label) does not; labelling other's
# interface app=web in tern-api lets it in within seconds, without touching
# the pods; db2 (back, no label) is never reachable through the rule.
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
al_networks front=10.1.0.0/24 back=10.2.0.0/24
vmi() { # NAME POD NETWORK NODE [LABELS]
	printf -- '---\nkind: virtual-machine-interface\nproject: demo\nname: %s\nvirtual_network: %s\nowner_type: pod\nowner: demo/%s\nnode: %s\nifname: eth0\ninterface_type: kernel\nlabels: {%s}\n' \
		"$1" "$3" "$2" "$4" "${5:-}"
	printf -- '---\nkind: instance-ip\nproject: demo\nname: %s-v4\nvirtual_network: %s\nvirtual_machine_interface: %s\nfamily: v4\n' "$1" "$3" "$1"
}
policy() {
	cat <<'EOF'
---
kind: network-policy
project: demo
name: web-to-db
rules:
- {action: pass, protocol: tcp, source: {virtual_network: front, labels: {app: web}},
   destination: {virtual_network: back, labels: {app: db}, ports: [{start: 5432, end: 5432}]}}
---
kind: virtual-network
project: demo
name: front
subnets: [{cidr: 10.1.0.0/24}]
network_policies: [web-to-db]
---
kind: virtual-network
project: demo
name: back
subnets: [{cidr: 10.2.0.0/24}]
network_policies: [web-to-db]
EOF
}
{ vmi web-eth0 web front h1 "app: web"; vmi other-eth0 other front h1; vmi db-eth0 db back h2 "app: db"
  vmi db2-eth0 db2 back h2; policy; } | al_apply || tl_fail "cannot create the interfaces and the policy"
al_agent h1
al_agent h2
al_sessions_up 2

al_pod h1 web front
al_pod h1 other front
al_pod h2 db back
al_pod h2 db2 back
for p in db db2; do
	tl_start "srv-$p" "${AL_POD_NS[$p]}" "$PY" -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5432)); s.listen(16)
while True:
    c, _ = s.accept(); c.sendall(b"ok"); c.close()'
	tl_wait "$p's server" 20 bash -c "ip netns exec ${AL_POD_NS[$p]} ss -ltn | grep -q ':5432 '"
done
tcp() { ip netns exec "${AL_POD_NS[$1]}" "$PY" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 5432), timeout=1); print(s.recv(8).decode())' "$2" 2>/dev/null; }
tl_wait "web (app=web) to reach db (app=db) on 5432" 15 bash -c "[ \"\$(ip netns exec ${AL_POD_NS[web]} $PY -c 'import socket; print(socket.create_connection((\"${AL_POD_IP[db]}\", 5432), timeout=1).recv(8).decode())' 2>/dev/null)\" = ok ]"
tl_check "web (app=web) -> db (app=db) TCP 5432 passes" test "$(tcp web "${AL_POD_IP[db]}")" = ok
tl_check "other (no label) -> db TCP 5432 is dropped" test -z "$(tcp other "${AL_POD_IP[db]}")"
tl_check "web -> db2 (back, no label) TCP 5432 is dropped" test -z "$(tcp web "${AL_POD_IP[db2]}")"
rules=$(vl_ctl h2 vr policy list)
tl_log "h2 policies:"; echo "$rules"

# Label other's interface app=web: the policies follow, the pods are untouched.
vmi other-eth0 other front h1 "app: web" | al_apply || tl_fail "cannot relabel other's interface"
tl_wait "other (now app=web) to reach db on 5432" 10 bash -c "[ \"\$(ip netns exec ${AL_POD_NS[other]} $PY -c 'import socket; print(socket.create_connection((\"${AL_POD_IP[db]}\", 5432), timeout=1).recv(8).decode())' 2>/dev/null)\" = ok ]"
tl_check "relabelled: other -> db TCP 5432 passes" test "$(tcp other "${AL_POD_IP[db]}")" = ok
tl_check "web -> db still passes" test "$(tcp web "${AL_POD_IP[db]}")" = ok
exit 0
