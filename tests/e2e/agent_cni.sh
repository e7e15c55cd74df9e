#!/usr/bin/env bash
# tests/e2e/agent_cni.sh — tern-agent and tern-cni on two hosts, with
# tern-api and tern-control, every piece a real process:
#   p1 on h1: three interfaces made by one ADD from tern-api's interfaces:
#             eth0 on red (kernel), net1 on blue (kernel), net2 on green (memif,
#             answered by dpdk-testpmd in icmpecho mode);
#   p2 on h2: the same three networks, named by the NPWG annotation (the agent
#             creates the interfaces in tern-api);
#   p3 on h2: red only.
# Traffic on every interface across the hosts (routes learned over BGP
# through tern-control), isolation between networks, failure paths (agent
# down: 11 and nothing made; unknown network: 7; a name taken in the pod:
# the ADD rolls back; DEL twice; DEL after the namespace is gone), and the
# agent restarted under traffic: no lost packet, the TCP connection lives;
# the vrouter restarted empty: the agent writes its state again; the
# controller stopped: forwarding goes on (headless), and resumes BGP.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
BUILD=${BUILD:-build}
source tests/lib/agentlab.sh
tl_init
command -v curl >/dev/null || tl_skip "no curl"

al_init
al_host h1 0 10.255.0.1 10.254.0.11
al_host h2 1 10.255.0.2 10.254.0.12
al_control h1 h2

al_networks red=10.1.0.0/24 blue=10.2.0.0/24 green=10.3.0.0/24,fd00:3::/64
# p1's interfaces, as an orchestrator would make them before the pod starts.
vmi() { # NAME VN IFNAME TYPE
	printf -- '---\nkind: virtual-machine-interface\nproject: demo\nname: %s\nvirtual_network: %s\nowner_type: pod\nowner: demo/p1\nnode: h1\nifname: %s\ninterface_type: %s\n' "$1" "$2" "$3" "$4"
	printf -- '---\nkind: instance-ip\nproject: demo\nname: %s-v4\nvirtual_network: %s\nvirtual_machine_interface: %s\nfamily: v4\n' "$1" "$2" "$1"
}
{ vmi p1-eth0 red eth0 kernel; vmi p1-net1 blue net1 kernel; vmi p1-net2 green net2 memif; } | al_apply ||
	tl_fail "cannot create p1's interfaces in tern-api"

al_agent h1
al_agent h2
al_sessions_up 2

# ---- ADD, as a runtime calls the plugin
P1=$(tl_netns p1) P2=$(tl_netns p2) P3=$(tl_netns p3)
out=$(al_cni h1 ADD cid-p1 "$P1" eth0 "IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p1" <<<"$(al_netconf h1 red)")
RES1=$out
tl_check "p1: one ADD, three interfaces (2 kernel, 1 memif): $(head -c 300 <<<"$out")" \
	python3 -c '
import json, sys
r = json.loads(sys.argv[1])
names = [i["name"] for i in r["interfaces"] if "sandbox" in i]
sock = [i for i in r["interfaces"] if i.get("socketPath")]
assert names == ["eth0", "net1", "net2"], names
assert len(sock) == 1 and sock[0]["socketPath"].endswith("/net2.sock"), sock
assert len(r["ips"]) == 3, r["ips"]' "$out"
ip_of() { python3 -c '
import json, sys
r = json.loads(sys.argv[1]); want = sys.argv[2]
for ip in r["ips"]:
    if ip["address"].startswith(want): print(ip["address"].split("/")[0]); break' "$1" "$2"; }
P1_RED=$(ip_of "$out" 10.1.) P1_BLUE=$(ip_of "$out" 10.2.) P1_GREEN=$(ip_of "$out" 10.3.)
SOCK=$(python3 -c 'import json,sys; print([i["socketPath"] for i in json.loads(sys.argv[1])["interfaces"] if i.get("socketPath")][0])' "$out")
dir_mode=$(stat -c %a "$(dirname "$SOCK")")
tl_check "memif socket directory is the pod's own, mode 700 (got $dir_mode)" test "$dir_mode" = 700
tl_check "p1 eth0 has $P1_RED and a default route" \
	bash -c "ip -n $P1 -4 addr show eth0 | grep -q 'inet $P1_RED/24' && ip -n $P1 route | grep -q '^default via 10.1.0.1 dev eth0'"
if command -v dpdk-testpmd >/dev/null; then
	MAC=$(python3 -c 'import json,sys; print([i["mac"] for i in json.loads(sys.argv[1])["interfaces"] if i.get("socketPath")][0])' "$out")
	tl_start p1-dpdk "" dpdk-testpmd --no-huge -m 256 --no-pci -l 0,1 --file-prefix "${TL}p1" --no-shconf \
		--log-level error "--vdev=net_memif0,role=client,socket=$SOCK,socket-abstract=no,id=0,mac=$MAC" \
		-- --forward-mode=icmpecho --auto-start --total-num-mbufs=2048 --stats-period 60
	P1_DPDK=$TL_LAST_PID
fi

out2=$(al_cni h2 ADD cid-p2 "$P2" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p2" <<<"$(al_netconf h2 red "blue, demo/green@net2")")
tl_check "p2: interfaces made from the NPWG annotation: $(head -c 300 <<<"$out2")" \
	python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert [i["name"] for i in r["interfaces"] if "sandbox" in i] == ["eth0", "net1", "net2"]
assert len([ip for ip in r["ips"] if ":" in ip["address"]]) == 1' "$out2"
P2_RED=$(ip_of "$out2" 10.1.) P2_BLUE=$(ip_of "$out2" 10.2.) P2_GREEN=$(ip_of "$out2" 10.3.)
owned_by() { al_ctl get vmi -o json | python3 -c '
import json, sys
d = json.load(sys.stdin); d = d.get("items", d) if isinstance(d, dict) else d
print(len([o for o in d if o.get("owner") == sys.argv[1]]))' "$1"; }
tl_check "tern-api holds p2's three interfaces, made by the agent" test "$(owned_by demo/p2)" = 3
out3=$(al_cni h2 ADD cid-p3 "$P3" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p3" <<<"$(al_netconf h2 red)")
P3_RED=$(ip_of "$out3" 10.1.)

tl_check "ternctl agent ports lists p1's three interfaces on h1" \
	test "$(ip netns exec "${VL_NS[h1]}" "$VL_CTL" agent ports --socket "$TL_DIR/h1/agent.sock" | grep -c cid-p1)" = 3
tl_check "ternctl agent status: h1's controller session is Established" \
	eval '"$VL_CTL" agent status --socket "$TL_DIR/h1/agent.sock" | grep -q "10.254.0.1 .*Established"'

# ---- traffic
png() { ip netns exec "$1" ping -c 3 -i 0.2 -W 2 "$2" >/dev/null 2>&1; }
tl_wait "p1 -> p2 on red (eth0, across hosts, MPLSoUDP)" 15 png "$P1" "$P2_RED"
tl_check "p1 -> p2 on blue (net1)" png "$P1" "$P2_BLUE"
tl_check "p3 -> p1 on red" png "$P3" "$P1_RED"
if command -v dpdk-testpmd >/dev/null; then
	tl_wait "p2 -> p1's DPDK interface on green (memif)" 15 png "$P2" "$P1_GREEN"
	tl_log "PASS p2 -> p1's DPDK interface (memif, testpmd icmpecho) on green"
	tl_stop "$P1_DPDK"  # it polls two cores: not while the rest measures loss
fi
tl_check "isolation: p3 (red only) cannot reach p2's blue address" \
	bash -c "! ip netns exec $P3 ping -c 2 -i 0.2 -W 1 $P2_BLUE >/dev/null 2>&1"

# ---- a DPDK pod on vhost-user (the vrouter is the server, the pod's
# virtio-user connects to the socket in its own directory); then GC.
if command -v dpdk-testpmd >/dev/null; then
	vmi p5-eth0 green eth0 vhost-user | sed 's#demo/p1#demo/p5#' | al_apply || tl_fail "cannot create p5's interface"
	P5=$(tl_netns p5)
	out5=$(al_cni h1 ADD cid-p5 "$P5" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p5" <<<"$(al_netconf h1 green)")
	vsock=$(python3 -c 'import json,sys; print([i["socketPath"] for i in json.loads(sys.argv[1])["interfaces"] if i.get("socketPath")][0])' "$out5")
	vmac=$(python3 -c 'import json,sys; print([i["mac"] for i in json.loads(sys.argv[1])["interfaces"] if i.get("socketPath")][0])' "$out5")
	P5_IP=$(ip_of "$out5" 10.3.)
	tl_check "p5 (vhost-user): the vrouter's socket is in the pod's own directory" test -S "$vsock"
	tl_start p5-dpdk "" dpdk-testpmd --no-huge -m 256 --no-pci -l 0,1 --file-prefix "${TL}p5" --no-shconf \
		--log-level error "--vdev=net_virtio_user0,path=$vsock,queues=1,mac=$vmac" \
		-- --forward-mode=icmpecho --auto-start --total-num-mbufs=2048 --stats-period 60
	P5_DPDK=$TL_LAST_PID
	tl_wait "p2 -> p5's vhost-user interface on green" 20 png "$P2" "$P5_IP"
	tl_log "PASS p2 -> p5's DPDK interface (vhost-user, testpmd icmpecho) on green"
	tl_stop "$P5_DPDK"
	# GC is per network configuration: another one's empty list removes nothing of "tern".
	gc_other=$(python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c["name"]="other"; c["cni.dev/valid-attachments"]=[]; print(json.dumps(c))' "$(al_netconf h1 red)")
	al_cni h1 GC "" "" "" "" <<<"$gc_other" >/dev/null
	tl_check "GC of another network configuration leaves p1 and p5 attached" \
		eval '[ "$(vl_ctl h1 vr vif list | grep -c cid-p5)" = 1 ] && [ "$(vl_ctl h1 vr vif list | grep -c cid-p1)" = 3 ]'
	# GC: the runtime says only p1 is valid on h1: p5's attachment goes.
	gc_conf=$(python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c["cni.dev/valid-attachments"]=[{"containerID": "cid-p1", "ifname": "eth0"}]; print(json.dumps(c))' "$(al_netconf h1 red)")
	tl_check "GC with only p1 valid succeeds" al_cni h1 GC "" "" "" "" <<<"$gc_conf"
	tl_check "after GC, p5's vif and socket are gone, p1's three stay" \
		eval '[ "$(vl_ctl h1 vr vif list | grep -c cid-p5)" = 0 ] && [ ! -e "$vsock" ] && [ "$(vl_ctl h1 vr vif list | grep -c cid-p1)" = 3 ]'
fi

# ---- CHECK
tl_check "CHECK p1 passes" al_cni h1 CHECK cid-p1 "$P1" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p1" <<<"$(al_prev "$(al_netconf h1 red)" "$RES1")"
ip -n "$P3" link set eth0 mtu 1300
drift() { ! al_cni h2 CHECK cid-p3 "$P3" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p3" <<<"$(al_prev "$(al_netconf h2 red)" "$out3")" >/dev/null; }
tl_check "CHECK reports drift (MTU changed in the pod)" drift
ip -n "$P3" link set eth0 mtu 1400

# ---- failure paths
hostlinks() { ip -n "${VL_NS[$1]}" -o link show | grep -c ' tn' ; }
before=$(hostlinks h2)
P4=$(tl_netns p4)
out=$(al_cni h2 ADD cid-p4 "$P4" eth0 "" <<<"$(al_netconf h2 red | sed "s#$TL_DIR/h2/agent.sock#$TL_DIR/nowhere.sock#")")
rc=$?
tl_check "agent unreachable: error 11, nothing made (rc $rc: $out)" \
	eval '[ $rc -ne 0 ] && grep -q "\"code\": *11" <<<"$out" && [ "$(hostlinks h2)" -eq "$before" ]'
out=$(al_cni h2 ADD cid-p4 "$P4" eth0 "" <<<"$(al_netconf h2 nope)")
tl_check "unknown network: error 7 naming it ($out)" \
	eval 'grep -q "\"code\": *7" <<<"$out" && grep -q nope <<<"$out"'
ip -n "$P4" link add net1 type veth peer name net1peer || tl_fail "cannot make net1 in p4"
out=$(al_cni h2 ADD cid-p4 "$P4" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p4" <<<"$(al_netconf h2 red blue)")
rc=$?
tl_check "name taken in the pod: ADD fails naming net1, rolled back ($out)" \
	eval '[ $rc -ne 0 ] && grep -q net1 <<<"$out" && ! ip -n "$P4" link show eth0 >/dev/null 2>&1 && [ "$(hostlinks h2)" -eq "$before" ]'
tl_check "after the failed ADD, the vrouter holds no vif of p4" \
	bash -c "! '$VL_CTL' --socket '$TL_DIR/h2/ctl.sock' vr vif list | grep -q cid-p4"
tl_check "DEL p4 (failed ADD) succeeds" al_cni h2 DEL cid-p4 "$P4" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p4" <<<"$(al_netconf h2 red blue)"
tl_check "p4's interfaces made by the agent are gone from tern-api" test "$(owned_by demo/p4)" = 0

# ---- the agent restarts under traffic: no packet lost, TCP lives on
tl_start iperf-p1 "$P1" iperf3 -s -1 -B "$P1_RED" -p 5201
sleep 0.5
tl_start iperf-p3 "$P3" iperf3 -c "$P1_RED" -p 5201 -t 8 -b 20M
IPERF=$TL_LAST_PID
ip netns exec "$P3" ping -c 600 -i 0.01 -W 1 "$P1_RED" >"$TL_DIR/restart-ping.txt" 2>&1 &
PING=$!
sleep 1.5
tl_stop "${AL_AGENT_PID[h1]}"
sleep 1
al_agent h1
wait "$PING"
loss=$(grep -o '[0-9.]*% packet loss' "$TL_DIR/restart-ping.txt")
tl_check "agent h1 restarted under traffic: $loss" grep -q ' 0% packet loss' "$TL_DIR/restart-ping.txt"
wait "$IPERF"; rc=$?
tl_check "the iperf3 TCP connection survived the restart (rc $rc)" test "$rc" -eq 0
tl_wait "restarted agent back in BGP" 30 bash -c "'$VL_CTL' bgp neighbors --socket '$TL_DIR/control.sock' | grep -c Established | grep -qx 2"
tl_check "after the restart, p2 -> p1 on blue still works" png "$P2" "$P1_BLUE"

# ---- the vrouter of h1 restarts (empty tables): its agent writes everything again
tl_stop "${VL_PID[h1]}"
vl_vrouter_start h1
tl_wait "p2 -> p1 on red after h1's vrouter restarted" 20 png "$P2" "$P1_RED"
tl_log "PASS h1's vrouter restarted empty: its agent re-added the fabric, p1's vifs and routes"
tl_check "after the vrouter restart, p1 -> p2 on blue" png "$P1" "$P2_BLUE"
tl_check "after the vrouter restart, p1 (eth0) -> p3" png "$P1" "$P3_RED"

# ---- headless: with the controller gone, the vrouters keep forwarding; when
# it comes back it holds its End-of-RIB until every agent sent theirs, so no
# agent drops a path early: no packet lost across the whole episode.
ip netns exec "$P3" ping -c 1500 -i 0.01 -W 1 "$P1_RED" >"$TL_DIR/ctl-ping.txt" 2>&1 &
PING=$!
sleep 1
tl_stop "$AL_CONTROL_PID"
tl_check "controller down: p2 -> p1 on blue still works" png "$P2" "$P1_BLUE"
al_control "${AL_CONTROL_HOSTS[@]}"
tl_wait "agents back in BGP after the controller's restart" 40 bash -c "'$VL_CTL' bgp neighbors --socket '$TL_DIR/control.sock' | grep -c Established | grep -qx 2"
wait "$PING"
got=$(grep -o '[0-9]* received' "$TL_DIR/ctl-ping.txt" | cut -d' ' -f1)
# An early End-of-RIB or a withdrawal would lose hundreds of these (the agents
# reconnect after 5 s); one or two lost to a starved core (2 cores, a dozen
# processes starting) is not the control plane's doing.
tl_check "p3 -> p1 at 100 Hz through the controller's stop and restart: ${got:-0} of 1500" \
	test "${got:-0}" -ge 1498
tl_check "controller back: p3 -> p1 on red" png "$P3" "$P1_RED"

# ---- DEL
tl_check "DEL p3" al_cni h2 DEL cid-p3 "$P3" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p3" <<<"$(al_netconf h2 red)"
tl_check "DEL p3 again (idempotent)" al_cni h2 DEL cid-p3 "$P3" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p3" <<<"$(al_netconf h2 red)"
ip netns del "$P2"
tl_check "DEL p2 after its namespace is gone" al_cni h2 DEL cid-p2 "" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p2" <<<"$(al_netconf h2 red "blue, demo/green@net2")"
count() { vl_ctl "$1" vr "$2" list -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d))'; }
tl_check "h2 keeps no pod veth ($(hostlinks h2)), vif ($(count h2 vif) with the fabric) or label ($(count h2 mpls))" \
	test "$(hostlinks h2)-$(count h2 vif)-$(count h2 mpls)" = 0-1-0
tl_check "p1 lost its routes to p2 and p3 (withdrawn over BGP)" \
	bash -c "! '$VL_CTL' --socket '$TL_DIR/h1/ctl.sock' vr route list --vrf 1 | grep -q '$P3_RED'"
exit 0
