#!/usr/bin/env bash
# tests/e2e/agent_sg.sh — security groups on one interface, the production
# way: tern-api holds the groups and the interfaces' security_groups,
# tern-agent turns them into the port's own vrouter policies (chained in
# front of its network's), pods come from tern-cni. Two hosts:
#   h1: w1 (gets the group "web"), o1 (no group: stays open), n1 (never a group)
#   h2: c1 (a client on the other host)
# web allows ingress TCP 80 from anywhere and ICMP, egress TCP 443 to
# 10.0.0.0/8 only. c1 -> w1: 80 connects, 81 is dropped (POLICY_DENY,
# `ternctl vr drop` names the policy), ping works; w1 -> c1: 443 connects,
# 444 is denied; o1 is untouched. Adding TCP 81 to web in tern-api opens it
# within seconds; removing web from w1's interface opens w1 entirely and
# removes its policies. A remote-group rule: the group db (ingress TCP 5432
# from the members of web) on o1: w1 (a member) connects, c1 does not. An
# agent restart keeps every policy: n1's vif, written again before tern-api
# is synced, keeps naming red's network policy (never none).
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
# red has a network policy too (its own traffic passes, and TCP to 192.0.2.0/24):
# the ports' security-group policies are chained in front of it.
al_networks red=10.1.0.0/24
al_apply <<'EOF' || tl_fail "cannot create red's network policy"
kind: network-policy
project: demo
name: red-out
rules:
- {action: pass, protocol: tcp, source: {virtual_network: red}, destination: {cidr: 192.0.2.0/24}}
---
kind: virtual-network
project: demo
name: red
subnets: [{cidr: 10.1.0.0/24}]
network_policies: [red-out]
EOF
al_agent h1
al_agent h2
al_sessions_up 2

al_pod h1 w1 red
al_pod h1 o1 red
al_pod h2 c1 red
al_pod h1 n1 red   # never in a group: its vif names red's network policy only
tl_log "pods: w1 ${AL_POD_IP[w1]} o1 ${AL_POD_IP[o1]} c1 ${AL_POD_IP[c1]}"

al_tcp_server w1 80 81 82
al_tcp_server o1 81 5432
al_tcp_server c1 443 444
# conn FROM TO PORT: a connection answered within 2 s
conn() {
	ip netns exec "${AL_POD_NS[$1]}" "$PY" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
sys.exit(0 if s.recv(64) else 1)' "${AL_POD_IP[$2]}" "$3" 2>/dev/null
}
noconn() { ! conn "$@"; }
ping1() { ip netns exec "${AL_POD_NS[$1]}" ping -c 1 -W 1 "${AL_POD_IP[$2]}" >/dev/null 2>&1; }

tl_wait "c1 to reach w1 (no group yet)" 20 conn c1 w1 81
tl_check "w1 reaches c1:444 (no group yet)" conn w1 c1 444

vmi_of() { # vmi_of POD: its interface's fq_name
	al_ctl get vmi -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin); items = d.get("items", d) if isinstance(d, dict) else d
print([v["fq_name"] for v in items if v.get("owner") == "demo/" + sys.argv[1]][0])' "$1"
}
set_groups() { # set_groups POD GROUP...: the interface's security_groups
	local pod=$1
	shift
	al_ctl get vmi -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin); items = d.get("items", d) if isinstance(d, dict) else d
v = [v for v in items if v.get("owner") == "demo/" + sys.argv[1]][0]
v["security_groups"] = sys.argv[2:]
v["kind"] = "virtual-machine-interface"
print(json.dumps(v))' "$pod" "$@" | al_apply
}
# sg_policies HOST: the security-group policies (ids above 4096) in its vrouter, as ID:NEXT
sg_policies() {
	vl_ctl "$1" vr policy list -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin); items = d if isinstance(d, list) else d.get("items", [d])
print(" ".join("%d:%d" % (p["id"], p.get("next", 0)) for p in items if p["id"] > 4096))'
}
has_sg() { [ -n "$(sg_policies "$1")" ]; }
no_sg() { [ -z "$(sg_policies "$1")" ]; }

web() { # web EXTRA_RULES: the group web
	printf 'kind: security-group\nproject: demo\nname: web\nrules: [%s]\n' \
		"{direction: ingress, protocol: tcp, ports: [{start: 80, end: 80}]}, {direction: ingress, protocol: icmp}, {direction: egress, protocol: tcp, cidr: 10.0.0.0/8, ports: [{start: 443, end: 443}]}$1" |
		al_apply
}
web "" || tl_fail "cannot create the security group web"
tl_log "w1's interface: $(vmi_of w1)"
set_groups w1 web || tl_fail "cannot give w1 the group web"
tl_wait "w1's security-group policies in h1's vrouter" 10 has_sg h1
pols=$(sg_policies h1)
tl_log "h1: security-group policies $pols"
tl_check "two policies (ingress, egress)" test "$(wc -w <<<"$pols")" -eq 2
vifs=$(vl_ctl h1 vr vif list)
tl_log "$vifs"
for p in $pols; do
	tl_check "a vif of h1 names policy ${p%:*}" bash -c "grep -qw ${p%:*} <<<'$vifs'"
	tl_check "policy ${p%:*} is chained to red's network policy (1)" test "${p#*:}" = 1
done
# ternctl: a chain is refused when its next does not exist or it loops
out=$(vl_ctl h2 vr policy add 4000 --default pass --next 4001 2>&1)
tl_check "a next that does not exist is refused ($out)" grep -q 'next policy 4001 does not exist' <<<"$out"
vl_ctl h2 vr policy add 4001 --default pass >/dev/null || tl_fail "policy 4001"
vl_ctl h2 vr policy add 4000 --default pass --next 4001 >/dev/null || tl_fail "policy 4000 -> 4001"
out=$(vl_ctl h2 vr policy add 4001 --default pass --next 4000 2>&1)
tl_check "a loop is refused ($out)" grep -q 'leads back' <<<"$out"
out=$(vl_ctl h2 vr policy list)
tl_check "policy list shows the next" grep -qE '^ *4000 .* 4001 *$' <<<"$out"
out=$(vl_ctl h2 vr policy del 4001 2>&1)
tl_check "the next of another cannot go ($out)" grep -q 'is the next policy of policy 4000' <<<"$out"
vl_ctl h2 vr policy del 4000 >/dev/null && vl_ctl h2 vr policy del 4001 >/dev/null || tl_fail "deleting 4000, 4001"

tl_wait "the policies apply (c1 -> w1:81 denied)" 10 noconn c1 w1 81

tl_check "c1 -> w1:80 connects" conn c1 w1 80
tl_check "c1 -> w1:81 is dropped" noconn c1 w1 81
tl_check "c1 -> w1:82 is dropped" noconn c1 w1 82
tl_check "c1 pings w1" ping1 c1 w1
drops=$(vl_ctl h1 vr drop)
tl_log "$drops"
tl_check "POLICY_DENY counted on h1" grep -qE 'POLICY_DENY +[1-9]' <<<"$drops"
tl_check "ternctl vr drop names the security-group policy and its default rule" \
	bash -c "grep -E '^[0-9]+ +default +[1-9]' <<<'$drops' | awk '\$1 > 4096' | grep -q ."
tl_check "w1 -> c1:443 connects (egress rule)" conn w1 c1 443
tl_check "w1 -> c1:444 is denied (egress default)" noconn w1 c1 444
tl_check "w1 cannot ping c1 (no egress ICMP rule)" bash -c "! ip netns exec ${AL_POD_NS[w1]} ping -c 1 -W 1 ${AL_POD_IP[c1]} >/dev/null 2>&1"
tl_check "o1 (no group) is open: c1 -> o1:81" conn c1 o1 81
tl_check "o1 (no group) is open: o1 -> c1:444" conn o1 c1 444
tl_check "o1 (no group) is open: o1 -> w1:80 still" conn o1 w1 80

# The group changes in tern-api: TCP 81 in, TCP 5432 out (for the remote-group part).
web ", {direction: ingress, protocol: tcp, ports: [{start: 81, end: 81}]}, {direction: egress, protocol: tcp, ports: [{start: 5432, end: 5432}]}" ||
	tl_fail "cannot update the group web"
tl_wait "c1 -> w1:81 once web allows it" 5 conn c1 w1 81
tl_check "c1 -> w1:82 still dropped" noconn c1 w1 82

# The group leaves w1's interface: open again, the policies go.
set_groups w1 || tl_fail "cannot remove w1's groups"
tl_wait "w1's security-group policies to leave h1's vrouter" 10 no_sg h1
tl_wait "c1 -> w1:82 once w1 has no group" 5 conn c1 w1 82
tl_check "w1 -> c1:444 once w1 has no group" conn w1 c1 444

# A remote group: db allows TCP 5432 from the members of web, on o1.
set_groups w1 web || tl_fail "cannot give w1 the group web again"
printf 'kind: security-group\nproject: demo\nname: db\nrules: [{direction: ingress, protocol: tcp, security_group: web, ports: [{start: 5432, end: 5432}]}]\n' |
	al_apply || tl_fail "cannot create the group db"
set_groups o1 db || tl_fail "cannot give o1 the group db"
four() { [ "$(wc -w <<<"$(sg_policies h1)")" -eq 4 ]; }
tl_wait "w1's and o1's policies in h1's vrouter" 10 four
tl_wait "w1 (a member of web) -> o1:5432" 5 conn w1 o1 5432
tl_check "c1 (not a member) -> o1:5432 is dropped" noconn c1 o1 5432
tl_check "o1 now denies what its group does not allow: c1 -> o1:81" noconn c1 o1 81

# The agent restarts: it takes the ports' policies over (same ids), keeps
# enforcing, and its take-over sweep removes a policy nobody holds.
before=$(sg_policies h1)
# n1's vif: its id and the policies it names (red's network policy)
read -r n1_vif n1_pol <<<"$(vl_ctl h1 vr vif list -o json | "$PY" -c '
import json, sys
d = json.load(sys.stdin); items = d if isinstance(d, list) else d.get("items", [d])
v = [v for v in items if v.get("name", "").startswith("cid-n1/")][0]
print(v["id"], "%d/%d" % (v.get("policy_in", 0), v.get("policy_out", 0)))')"
tl_check "n1's vif $n1_vif names red's network policy ($n1_pol)" test "${n1_pol%/*}" -gt 0
log_from=$(wc -l <"$TL_DIR/vrouter-h1.log")
tl_stop "${AL_AGENT_PID[h1]}"
vl_do h1 vr policy add 5000 --default pass
al_agent h1
tl_wait "restarted agent back in BGP" 30 bash -c "'$VL_CTL' bgp neighbors --socket '$TL_DIR/control.sock' | grep -c Established | grep -qx 2"
# the restored vif was written again before tern-api was synced: never without its policy
n1_adds=$(tail -n +"$((log_from + 1))" "$TL_DIR/vrouter-h1.log" | grep "vif $n1_vif added:")
tl_log "n1's vif written again:"; echo "$n1_adds"
tl_check "n1's vif was written again by the restarted agent" test -n "$n1_adds"
tl_check "every rewrite of n1's vif kept its policies (in/out $n1_pol)" \
	bash -c "! grep -v 'policy in ${n1_pol%/*} out ${n1_pol#*/}\$' <<<\"\$1\"" _ "$n1_adds"
gone5000() { ! vl_ctl h1 vr policy get 5000 >/dev/null 2>&1; }
tl_wait "the take-over sweep to remove policy 5000" 30 gone5000
after=$(sg_policies h1)
tl_check "after the restart the same policies ($before / $after)" test "$before" = "$after"
tl_check "after the restart c1 -> w1:82 still dropped" noconn c1 w1 82
tl_check "after the restart w1 -> o1:5432 still connects" conn w1 o1 5432

# w1 leaves: its policies go with it.
al_cni h1 DEL cid-w1 "${AL_POD_NS[w1]}" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=w1" <<<"$(al_netconf h1 red)" >/dev/null ||
	tl_fail "DEL w1"
two() { [ "$(wc -w <<<"$(sg_policies h1)")" -eq 2 ]; }
tl_wait "w1's policies to leave h1's vrouter with it" 10 two
exit 0
