#!/usr/bin/env bash
# Stateful policy in the vrouter (issue 7, first slice): two hosts joined by
# MPLSoUDP tunnels programmed by hand; pod "web" (h1) and pod "db" (h2) in
# vrf 1. db's policy_in allows TCP 5432 from web only (IPv4 and IPv6; explicit
# deny rules 20/21 after it); web's policy_in denies everything. Checks: web
# connects to db on 5432 and db's replies pass (no rule of their own), db
# cannot open a connection to web, web -> db on 5433 and ping are dropped and
# counted under POLICY_DENY with the rule id (rule 20 logs the flows it denies), `ternctl vr flow list` shows the
# connection, and replacing the policy stops the allowed connection's flow
# (re-evaluation) within a second.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
tl_init
for t in python3 ping ethtool; do
	command -v $t >/dev/null || tl_skip "no $t on this machine"
done

vl_host h1 0
vl_host h2 1
vl_fabric h1 10.255.0.1 h2 10.255.0.2

declare -A VIF MAC HOST
for spec in "h1 web 10.1.0.1 fd00:1::1" "h2 db 10.1.0.2 fd00:1::2"; do
	set -- $spec
	vl_pod "$1" "$2" 1 "$3/24" "$4/64"
	VIF[$2]=$VL_VIF
	MAC[$2]=$VL_MAC
	HOST[$2]=$1
	vl_do "$1" vr nh add "$VL_VIF" --type encap --vif "$VL_VIF" --vrf 1
	vl_do "$1" vr route add --vrf 1 "$3/32" --nh "$VL_VIF"
	vl_do "$1" vr route add --vrf 1 "$4/128" --nh "$VL_VIF"
	vl_do "$1" vr mpls add 101 --nh "$VL_VIF"
done
for h in h1 h2; do
	peer=h2; [ $h = h2 ] && peer=h1
	vl_do $h vr nh add 11 --type tunnel --vif 0 --vrf 1 --encap mplsoudp \
		--dip "${VL_FABIP[$peer]}" --dmac "${VL_FABMAC[$peer]}" --label 101
done
vl_do h1 vr route add --vrf 1 10.1.0.2/32 --nh 11
vl_do h1 vr route add --vrf 1 fd00:1::2/128 --nh 11
vl_do h2 vr route add --vrf 1 10.1.0.1/32 --nh 11
vl_do h2 vr route add --vrf 1 fd00:1::1/128 --nh 11

# Attach policies by replacing the pod's vif with the same port.
set_policy() { # set_policy POD OPTIONS...
	local pod=$1; shift
	vl_do "${HOST[$pod]}" vr vif add --id "${VIF[$pod]}" --type kernel --ifname "v-$pod" --vrf 1 \
		--mac "${MAC[$pod]}" --name "$pod" "$@"
}
vl_do h2 vr policy add 1 --default deny \
	--rule 'id=10,action=pass,proto=tcp,src=10.1.0.1/32,dst=10.1.0.2/32,dport=5432' \
	--rule 'id=11,action=pass,proto=tcp,src=fd00:1::1,dst=fd00:1::2/128,dport=5432' \
	--rule 'id=20,action=deny,family=4,log' \
	--rule 'id=21,action=deny,family=6'
vl_do h1 vr policy add 2 --default deny
set_policy db --policy-in 1
set_policy web --policy-in 2
tl_check "vif get shows policy_in" bash -c "$VL_CTL --socket $TL_DIR/h2/ctl.sock vr vif get ${VIF[db]} | grep -q 'Pol in:.* 1'"
out=$(vl_ctl h2 vr policy del 1 2>&1)
tl_check "a policy in use cannot be deleted: $out" grep -q "policy_in of vif ${VIF[db]}" <<<"$out"
out=$(vl_ctl h2 vr policy add 3 --default deny --rule 'id=1,src=10.1.0.1/40' 2>&1)
tl_check "a bad rule is refused naming rule and field: $out" grep -q "rule 0" <<<"$out"

# The largest policy (1,000 rules) goes through ternctl in one request.
for i in $(seq 1 1000); do echo "id=$i,action=deny,proto=udp,dst=10.9.$((i / 250)).$((i % 250))/32"; done >"$TL_DIR/rules1000"
vl_do h2 vr policy add 9 --default pass --rules-file "$TL_DIR/rules1000"
tl_check "a 1,000-rule policy is accepted whole" \
	bash -c "$VL_CTL --socket $TL_DIR/h2/ctl.sock vr policy list | grep -qE '^9 +pass +1000 '"
vl_do h2 vr policy del 9

# TCP echo servers, dual stack: db on 5432 and 5433, web on 8080.
server() { # server POD PORT
	tl_start "srv-$1-$2" "${VL_NS[$1]}" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(16)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        while True:
            d = c.recv(100)
            if not d:
                break
            c.sendall(b"echo:" + d)
    except OSError:
        pass
    c.close()
' "$2"
}
server db 5432
server db 5433
server web 8080
listening() { ip netns exec "${VL_NS[$1]}" ss -ltn | grep -q ":$2 "; }
tl_wait "db's servers" 10 listening db 5433
tl_wait "web's server" 10 listening web 8080
# client POD ADDR PORT: prints what the server echoed (a connect timeout of 2 s)
client() {
	vl_pod_in "$1" python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
s.sendall(b"hello")
print(s.recv(100).decode())
' "$2" "$3" 2>/dev/null
}
tl_check "web -> db TCP 5432 connects, db's replies pass" test "$(client web 10.1.0.2 5432)" = "echo:hello"
tl_check "web -> db TCP 5432 over IPv6 connects (rule 11)" test "$(client web fd00:1::2 5432)" = "echo:hello"
tl_check "web -> db TCP 5433 (IPv4) is dropped" test -z "$(client web 10.1.0.2 5433)"
tl_check "web -> db TCP 5433 (IPv6) is dropped" test -z "$(client web fd00:1::2 5433)"
tl_check "db -> web TCP 8080 cannot connect" test -z "$(client db 10.1.0.1 8080)"
tl_check "db -> web TCP 8080 over IPv6 cannot connect" test -z "$(client db fd00:1::1 8080)"
tl_check "web -> db ping is dropped (the rule says TCP only)" \
	bash -c "! ip netns exec ${VL_NS[web]} ping -c 2 -i 0.2 -W 1 10.1.0.2 >/dev/null"

policy_json=$(vl_ctl h2 vr policy get 1 -o json)
denied() { # denied JSON RULE_ID: packets the rule denied
	/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(sum(r["denied"] for r in d["rule_list"] if r["id"]==int(sys.argv[2])))' "$1" "$2"
}
hits() {
	/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(sum(r["hits"] for r in d["rule_list"] if r["id"]==int(sys.argv[2])))' "$1" "$2"
}
tl_check "rule 10 (pass 5432) decided a flow: hits $(hits "$policy_json" 10)" test "$(hits "$policy_json" 10)" -ge 1
tl_check "rule 20 (deny IPv4) denied 5433 and ping: $(denied "$policy_json" 20) packets" \
	test "$(denied "$policy_json" 20)" -ge 3
tl_check "rule 21 (deny IPv6) denied the IPv6 connection: $(denied "$policy_json" 21) packets" \
	test "$(denied "$policy_json" 21)" -ge 1
drops=$(vl_ctl h2 vr drop)
tl_log "h2 drops:"; echo "$drops"
tl_check "h2: POLICY_DENY counted" grep -qE '^POLICY_DENY +[1-9]' <<<"$drops"
tl_check "h2: ternctl vr drop names rule 20 of policy 1" grep -qE '^1 +20 +[1-9]' <<<"$drops"
tl_check "rule 20 has the log flag: the vrouter logged the flows it denied" \
	grep -qE "flow vrf 1 proto 6 10\.1\.0\.1:[0-9]+ -> 10\.1\.0\.2:5433 vif 0: deny by policy 1 rule 20" "$TL_DIR/vrouter-h2.log"
drops1=$(vl_ctl h1 vr drop)
tl_check "h1: db's connection attempt denied by policy 2's default" grep -qE '^2 +default +[1-9]' <<<"$drops1"
# A connection that stays open: listed by ternctl vr flow, then stopped by
# a policy replace that now denies it (re-evaluation).
tl_start "long-client" "${VL_NS[web]}" python3 -c '
import socket, time
s = socket.create_connection(("10.1.0.2", 5432), timeout=1)
while True:
    try:
        s.sendall(b"x")
        s.recv(100)
        print("ok", flush=True)
    except OSError:
        print("fail", flush=True)
    time.sleep(0.1)
'
LONG=$TL_LAST_PID
tl_wait "the long connection to exchange data" 10 grep -q ok "$TL_DIR/long-client.log"
# (closed connections leave the table 5 s after their FIN: list an open one)
flows=$(vl_ctl h2 vr flow list --port 5432)
tl_log "h2 flows on port 5432:"; echo "$flows"
tl_check "flow list: web -> db 5432 passed by rule 10, with reply packets" \
	/usr/bin/python3 -c 'import json,sys; f=[x for x in json.loads(sys.argv[1]) if x["dport"]==5432 and x["rule"]==10]; sys.exit(not (f and f[0]["action"]=="pass" and f[0]["reverse_pkts"]>0))' \
	"$(vl_ctl h2 vr flow list --port 5432 -o json)"
tl_check "flow list filters by address" bash -c "$VL_CTL --socket $TL_DIR/h2/ctl.sock vr flow list --ip 10.1.0.1 --vrf 1 | grep -q 10.1.0.1"

vl_do h2 vr policy add 1 --default deny --rule 'id=30,action=deny,proto=tcp,dport=5432' \
	--rule 'id=11,action=pass,proto=tcp,src=fd00:1::1,dst=fd00:1::2/128,dport=5432'
t0=$(date +%s%N)
tl_wait "the connection to stop after the replace" 5 grep -q fail "$TL_DIR/long-client.log"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
tl_stop "$LONG"
tl_check "re-evaluation stopped the open connection in $ms ms (under 1.5 s incl. 1 s socket timeout)" test "$ms" -lt 2500
tl_check "the existing flow now names rule 30" \
	bash -c "$VL_CTL --socket $TL_DIR/h2/ctl.sock vr flow list --port 5432 -o json | grep -q '\"rule\":30'"
exit 0
