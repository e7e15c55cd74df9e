#!/usr/bin/env bash
# The laboratory (make demo): a two-site tern network on one machine, every
# host a network namespace, every piece a real process, proven with real
# traffic.
#
#   site "cloud": hosts c1 c2 c3 on a bridged fabric 10.255.1.0/24, each with
#                 tern-vrouter + tern-agent; tern-api and two tern-control
#                 (ctl1, ctl2) on the controller host
#   site "dc":    servers d1 d2 on 10.255.2.0/24 behind router rtr (kernel IP
#                 forwarding), each with tern-vrouter + tern-agent; their own
#                 tern-control (ctl3)
#   gateway:      FRR's bgpd (AS 65000), eBGP VPNv4 with ctl1 and ctl3
# Tenants red and blue both use 10.1.0.0/24; pods get their interfaces from
# tern-cni called as a container runtime calls it (one with three interfaces,
# one DPDK pod on memif); the agents advertise them over BGP and install what
# the controllers reflect as MPLSoUDP tunnels, across sites too.
# The management network (tern-api, BGP) is one bridge for both sites here.
#
# Options: --keep (leave it running), --down (tear down a kept lab),
# --no-dpdk-pod, --small (shorter traffic runs: what make test uses).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
LAB_DIR=${LAB_DIR:-/run/tern/lab}
LAB_OUT=${LAB_OUT:-$BUILD/lab}     # summary.json, topology.{dot,svg,png}: kept after teardown
KEEP=0 DPDK_POD=1 SMALL=0
for a in "$@"; do
	case $a in
	--keep) KEEP=1;;
	--down) DOWN=1;;
	--no-dpdk-pod) DPDK_POD=0;;
	--small) SMALL=1;;
	*) echo "usage: $0 [--keep] [--down] [--no-dpdk-pod] [--small]" >&2; exit 2;;
	esac
done

down() { # stop what a lab recorded: processes by PID, its namespaces
	[ -d "$LAB_DIR" ] || { echo "no lab running ($LAB_DIR absent)"; return 0; }
	if [ -f "$LAB_DIR/pids" ]; then
		tac "$LAB_DIR/pids" | while read -r pid; do kill -TERM "$pid" 2>/dev/null; done
		sleep 1
		tac "$LAB_DIR/pids" | while read -r pid; do kill -KILL "$pid" 2>/dev/null; done
	fi
	if [ -f "$LAB_DIR/netns" ]; then
		while read -r ns; do ip netns del "$ns" 2>/dev/null; done <"$LAB_DIR/netns"
	fi
	rm -rf "$LAB_DIR"
	echo "lab removed"
}
if [ "${DOWN:-0}" = 1 ]; then down; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "make demo needs root (network namespaces)" >&2; exit 1; }
[ -d "$LAB_DIR" ] && { echo "a lab is already running in $LAB_DIR: make demo-down first" >&2; exit 1; }

source tests/lib/netns.sh
source tests/lib/vrlab.sh
source tests/lib/agentlab.sh
# The lab uses the test library with a fixed prefix and directory, so that
# --keep and --down can find it again.
TL=${LAB_PREFIX:-lab-}
TL_DIR=$LAB_DIR
mkdir -p "$TL_DIR"
lab_exit() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$KEEP" = 1 ] && [ "$rc" -eq 0 ]; then
		printf '%s\n' "${TL_PIDS[@]}" >"$TL_DIR/pids"
		cat <<MSG

The lab is running. Look around:
  ip netns list | grep ${TL}
  ip netns exec ${TL}red-web ping ${POD_IP[red-db]:-10.1.0.3}
  $VL_CTL --socket $TL_DIR/c1/ctl.sock vr route list --vrf 1
  $VL_CTL --socket $TL_DIR/d1/ctl.sock vr service list        (then: vr service get ID, vr flow list)
  ip netns exec ${TL}red-dc python3 -c 'import socket; print(socket.create_connection(("${VIP:-VIP}", 80)).recv(64))'
  $VL_CTL bgp neighbors --socket $TL_DIR/ctl1.sock
  ip netns exec ${TL}ctl env TERN_API=$AL_URL TERN_TOKEN=\$(cat $TL_DIR/token) $VL_CTL get vmi
Stop it: make demo-down
MSG
		exit 0
	fi
	if [ "$rc" -ne 0 ]; then # every process's log outlives the lab, for the post-mortem
		mkdir -p "$LAB_OUT/logs" && cp "$TL_DIR"/*.log "$TL_DIR"/*.txt "$LAB_OUT/logs/" 2>/dev/null
		# and what the controllers and vrouters held at the end (which routes went missing)
		local c h
		for c in ctl1 ctl2 ctl3; do
			[ -S "$TL_DIR/$c.sock" ] && "$VL_CTL" bgp rib -a vpnv4 --socket "$TL_DIR/$c.sock" \
				>"$LAB_OUT/logs/rib-$c.txt" 2>&1
		done
		for h in c1 c2 c3 d1 d2; do
			[ -S "$TL_DIR/$h/ctl.sock" ] && { vl_ctl "$h" vr route list --vrf 1; vl_ctl "$h" vr nh list; } \
				>"$LAB_OUT/logs/routes-$h.txt" 2>&1
		done
		echo "lab: failed; the processes' logs are in $LAB_OUT/logs" >&2
	fi
	for ((i = ${#TL_PIDS[@]} - 1; i >= 0; i--)); do tl_stop "${TL_PIDS[$i]}"; done
	printf '' >"$TL_DIR/pids"
	down >/dev/null
	exit "$rc"
}
trap lab_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tl_fail() { echo "lab: $*" >&2; exit 1; }
lab_wait() { # lab_wait SECS cmd...: 1 when cmd never succeeded (the checks then say what)
	local end=$(( $(date +%s) + $1 )); shift
	until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.3; done
}
start=$(date +%s)
FRR_BGPD=/usr/lib/frr/bgpd

# ---- management network, tern-api, the underlay of both sites
al_init
RTR=$(tl_netns rtr)
ip netns exec "$RTR" sysctl -qw net.ipv4.ip_forward=1
tl_veth rtr-c "$RTR" f-rtr "$AL_NS"
ip -n "$AL_NS" link set f-rtr master fabric
ip -n "$RTR" addr add 10.255.1.254/24 dev rtr-c
ip -n "$RTR" link add dcfab type bridge
ip -n "$RTR" link set dcfab up
ip -n "$RTR" addr add 10.255.2.254/24 dev dcfab

HOSTS=(c1 c2 c3 d1 d2)
declare -A SITE=( [c1]=cloud [c2]=cloud [c3]=cloud [d1]=dc [d2]=dc )
declare -A FIP=( [c1]=10.255.1.1 [c2]=10.255.1.2 [c3]=10.255.1.3 [d1]=10.255.2.1 [d2]=10.255.2.2 )
declare -A MIP=( [c1]=10.254.0.11 [c2]=10.254.0.12 [c3]=10.254.0.13 [d1]=10.254.0.21 [d2]=10.254.0.22 )
declare -A LCORE=( [c1]=0 [c2]=1 [c3]=0 [d1]=1 [d2]=0 )
for h in "${HOSTS[@]}"; do
	if [ "${SITE[$h]}" = cloud ]; then
		al_host "$h" "${LCORE[$h]}" "${FIP[$h]}" "${MIP[$h]}"
		AL_CTRL[$h]="10.254.0.2 10.254.0.3" AL_FGW[$h]=10.255.1.254
	else
		al_host "$h" "${LCORE[$h]}" "${FIP[$h]}" "${MIP[$h]}" "$RTR" dcfab
		AL_CTRL[$h]=10.254.0.4 AL_FGW[$h]=10.255.2.254
	fi
done

# ---- controllers: ctl1, ctl2 (cloud) next to tern-api; ctl3 in the dc
ip -n "$AL_NS" addr add 10.254.0.2/24 dev mgmt
ip -n "$AL_NS" addr add 10.254.0.3/24 dev mgmt
DCCTL=$(tl_netns dcctl)
tl_veth mg-dcctl "$DCCTL" m-dcctl "$AL_NS"
ip -n "$AL_NS" link set m-dcctl master mgmt
ip -n "$DCCTL" addr add 10.254.0.4/24 dev mg-dcctl
HAVE_FRR=0
[ -x "$FRR_BGPD" ] && command -v vtysh >/dev/null && HAVE_FRR=1
control_conf() { # control_conf NAME ADDRESS AGENTS-PREFIX
	local name=$1 addr=$2 agents=$3 peer
	printf 'router-id %s\nas 64512\nlisten %s 179\nhold-time 30\nconnect-retry 1\n' "$addr" "$addr"
	printf 'control-socket %s\n' "$TL_DIR/$name.sock"
	# the site's agents, whoever they are: one section for the range
	printf '\n[neighbors %s]\nas 64512\nfamilies vpnv4 vpnv6\nrr-client\n' "$agents"
	for peer in 10.254.0.2 10.254.0.3 10.254.0.4; do  # the controllers' iBGP mesh
		[ "$peer" = "$addr" ] && continue
		printf '\n[neighbor %s]\nas 64512\nfamilies vpnv4 vpnv6\nlocal-address %s\n' "$peer" "$addr"
	done
	if [ "$HAVE_FRR" = 1 ] && [ "$name" != ctl2 ]; then
		printf '\n[neighbor 10.254.0.10]\nas 65000\nfamilies vpnv4\nlocal-address %s\n' "$addr"
	fi
}
control_conf ctl1 10.254.0.2 10.254.0.8/29 >"$TL_DIR/ctl1.conf"   # c1..c3: .11-.13
control_conf ctl2 10.254.0.3 10.254.0.8/29 >"$TL_DIR/ctl2.conf"
control_conf ctl3 10.254.0.4 10.254.0.16/28 >"$TL_DIR/ctl3.conf"  # d1, d2: .21, .22
tl_start ctl1 "$AL_NS" "$AL_CONTROL" -c "$TL_DIR/ctl1.conf"
CTL1_PID=$TL_LAST_PID
tl_start ctl2 "$AL_NS" "$AL_CONTROL" -c "$TL_DIR/ctl2.conf"
tl_start ctl3 "$DCCTL" "$AL_CONTROL" -c "$TL_DIR/ctl3.conf"

# ---- the DC gateway: FRR's bgpd by hand (no zebra, no systemd)
if [ "$HAVE_FRR" = 1 ]; then
	GW=$(tl_netns gw)
	tl_veth mg-gw "$GW" m-gw "$AL_NS"
	ip -n "$AL_NS" link set m-gw master mgmt
	ip -n "$GW" addr add 10.254.0.10/24 dev mg-gw
	mkdir -p "$TL_DIR/frr"
	cat >"$TL_DIR/frr/bgpd.conf" <<'CONF'
hostname dc-gateway
log stdout informational
!
router bgp 65000
 bgp router-id 10.254.0.10
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 timers bgp 10 30
 neighbor 10.254.0.2 remote-as 64512
 neighbor 10.254.0.2 timers connect 1
 neighbor 10.254.0.4 remote-as 64512
 neighbor 10.254.0.4 timers connect 1
 !
 address-family ipv4 vpn
  neighbor 10.254.0.2 activate
  neighbor 10.254.0.4 activate
 exit-address-family
!
CONF
	chmod -R a+rwX "$TL_DIR/frr"
	tl_start dc-gateway "$GW" "$FRR_BGPD" -f "$TL_DIR/frr/bgpd.conf" -i "$TL_DIR/frr/bgpd.pid" \
		--vty_socket "$TL_DIR/frr" -Z -n -S -l 10.254.0.10 -P 0
fi

# ---- configuration of record: two tenants, overlapping addresses
al_apply <<'EOF' || tl_fail "cannot create the tenants' networks in tern-api"
kind: project
name: red
---
kind: project
name: blue
---
kind: virtual-network
project: red
name: front
subnets: [{cidr: 10.1.0.0/24}]
---
kind: virtual-network
project: red
name: back
subnets: [{cidr: 10.2.0.0/24}]
---
kind: network-policy
project: red
name: web-to-db
rules:
- {action: pass, protocol: tcp, source: {virtual_network: front},
   destination: {virtual_network: back, ports: [{start: 5432, end: 5432}]}}
---
# the policy and the networks refer to each other: attach it once both exist
kind: virtual-network
project: red
name: front
subnets: [{cidr: 10.1.0.0/24}]
network_policies: [web-to-db]
---
kind: virtual-network
project: red
name: back
subnets: [{cidr: 10.2.0.0/24}]
network_policies: [web-to-db]
---
kind: virtual-network
project: red
name: ops
subnets: [{cidr: 10.3.0.0/24}]
---
kind: virtual-network
project: blue
name: front
subnets: [{cidr: 10.1.0.0/24}]
EOF
if [ "$DPDK_POD" = 1 ] && command -v dpdk-testpmd >/dev/null; then
	# The DPDK pod's interface, made as an orchestrator makes it: memif.
	al_apply <<'EOF' || tl_fail "cannot create the DPDK pod's interface"
kind: virtual-machine-interface
project: red
name: red-dpdk-eth0
virtual_network: front
owner_type: pod
owner: red/red-dpdk
node: c2
ifname: eth0
interface_type: memif
---
kind: instance-ip
project: red
name: red-dpdk-eth0-v4
virtual_network: front
virtual_machine_interface: red-dpdk-eth0
EOF
else
	DPDK_POD=0
fi
for h in "${HOSTS[@]}"; do al_agent "$h"; done

# ---- pods, through tern-cni as a container runtime calls it
declare -A POD_HOST POD_TENANT POD_IFS POD_IP POD_KIND
PODS=()
add_pod() { # add_pod HOST TENANT POD NETWORK [ANNOTATION]
	local h=$1 tenant=$2 pod=$3 net=$4 ann=${5:-} pns out
	pns=$(tl_netns "$pod")
	out=$(al_cni "$h" ADD "cid-$pod" "$pns" eth0 "K8S_POD_NAMESPACE=$tenant;K8S_POD_NAME=$pod" \
		<<<"$(al_netconf "$h" "$net" "$ann" "$tenant")") || tl_fail "ADD $pod: $out"
	VL_NS[$pod]=$pns
	POD_HOST[$pod]=$h POD_TENANT[$pod]=$tenant
	POD_KIND[$pod]=kernel
	POD_IFS[$pod]=$(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
names = [i["name"] for i in r["interfaces"] if "sandbox" in i]
for ip in r["ips"]:
    i = r["interfaces"][ip["interface"]]
    print("%s=%s" % (i["name"], ip["address"].split("/")[0]), end=" ")
' "$out")
	POD_IP[$pod]=$(sed 's/^eth0=\([^ ]*\).*/\1/' <<<"${POD_IFS[$pod]}")
	grep -q socketPath <<<"$out" && POD_KIND[$pod]="dpdk (memif)"
	PODS+=("$pod")
	RESULT[$pod]=$out
}
declare -A RESULT
add_pod c1 red red-web front
add_pod c2 red red-db front back
add_pod c3 red red-ops front "back, ops"
add_pod d1 red red-dc front
add_pod d2 red red-dc2 back ops
add_pod c1 blue blue-a front
add_pod d2 blue blue-b front
if [ "$DPDK_POD" = 1 ]; then
	add_pod c2 red red-dpdk front
	sock=$(python3 -c 'import json,sys; print([i["socketPath"] for i in json.loads(sys.argv[1])["interfaces"] if i.get("socketPath")][0])' "${RESULT[red-dpdk]}")
	mac=$(python3 -c 'import json,sys; print([i["mac"] for i in json.loads(sys.argv[1])["interfaces"] if i.get("socketPath")][0])' "${RESULT[red-dpdk]}")
	tl_start red-dpdk "" dpdk-testpmd --no-huge -m 256 --no-pci -l 0,1 --file-prefix "${TL}dpdk" --no-shconf \
		--log-level error "--vdev=net_memif0,role=client,socket=$sock,socket-abstract=no,id=0,mac=$mac" \
		-- --forward-mode=icmpecho --auto-start --total-num-mbufs=2048 --stats-period 60
fi
if_ip() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"${POD_IFS[$1]}"; }

# ---- what was built
sessions() { # NAME: the controller's sessions, "peer state" per line
	"$VL_CTL" bgp neighbors --socket "$TL_DIR/$1.sock" -o json 2>/dev/null | python3 -c '
import json, sys
for n in json.load(sys.stdin)["neighbors"]:
    print(n["address"], n["state"])' 2>/dev/null
}
all_up() { ! { sessions ctl1; sessions ctl2; sessions ctl3; } | grep -qv Established; }
lab_wait 40 all_up
echo
echo "tern lab: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf '%-6s %-6s %-12s %-13s %-22s %s\n' HOST SITE FABRIC-IP MGMT-IP CONTROLLERS "VROUTER / LCORE"
for h in "${HOSTS[@]}"; do
	printf '%-6s %-6s %-12s %-13s %-22s %s\n' "$h" "${SITE[$h]}" "${FIP[$h]}" "${MIP[$h]}" \
		"${AL_CTRL[$h]// /,}" "$TL$h / ${LCORE[$h]}"
done
echo
al_ctl get vn 2>/dev/null   # the networks, from tern-api
echo
printf '%-9s %-5s %-6s %-13s %s\n' POD HOST TENANT KIND INTERFACES
for p in "${PODS[@]}"; do
	printf '%-9s %-5s %-6s %-13s %s\n' "$p" "${POD_HOST[$p]}" "${POD_TENANT[$p]}" "${POD_KIND[$p]}" "${POD_IFS[$p]}"
done
echo
printf '%-10s %-14s %s\n' CONTROLLER PEER STATE
for c in ctl1 ctl2 ctl3; do
	sessions "$c" | while read -r peer state; do printf '%-10s %-14s %s\n' "$c" "$peer" "$state"; done
done
echo

# ---- checks, each with real traffic
passed=0 failed=0
CHECKS=()
check() { # check "what" cmd...
	local what=$1; shift
	if "$@" >/dev/null 2>&1; then
		printf 'PASS  %s\n' "$what"; passed=$((passed + 1)); CHECKS+=("PASS|$what")
	else
		printf 'FAIL  %s\n' "$what"; failed=$((failed + 1)); CHECKS+=("FAIL|$what")
	fi
}
ping_from() { ip netns exec "${VL_NS[$1]}" ping -c 3 -i 0.2 -W 2 "$2"; }
no_ping_from() { ! ip netns exec "${VL_NS[$1]}" ping -c 2 -i 0.2 -W 1 "$2"; }
# Routes arrive over BGP (through the gateway for the other site): give each
# pair the checks below rely on a moment to converge; on a loaded machine the
# last pods' routes reach the dc later than the first ones'.
lab_wait 20 ping_from red-web "${POD_IP[red-dc]}"
lab_wait 20 ping_from red-dc "${POD_IP[red-ops]}"
lab_wait 20 ping_from red-ops "$(if_ip red-dc2 net1)"
lab_wait 20 ping_from blue-a "${POD_IP[blue-b]}"
check "red: c1 -> c2 across the cloud fabric (MPLSoUDP)" ping_from red-web "${POD_IP[red-db]}"
check "red: cloud -> dc across the routed L3 network" ping_from red-web "${POD_IP[red-dc]}"
check "red: dc -> cloud" ping_from red-dc "${POD_IP[red-ops]}"
check "3-interface pod red-ops: eth0 (front) -> red-web" ping_from red-ops "${POD_IP[red-web]}"
check "3-interface pod red-ops: net1 (back) -> red-db's back" ping_from red-ops "$(if_ip red-db net1)"
check "3-interface pod red-ops: net2 (ops) -> red-dc2 in the dc" ping_from red-ops "$(if_ip red-dc2 net1)"
check "blue: cloud -> dc, the same addresses as red" ping_from blue-a "${POD_IP[blue-b]}"
check "tenants isolated: blue-a cannot reach red-db" no_ping_from blue-a "${POD_IP[red-db]}"
# Off blue's subnet: routed in blue's VRF, which has no route there (NO_ROUTE, counted
# below). An on-subnet address blue does not have (red-db's above) is not refused by the
# vrouter: the networks are l2_l3, so the pod's ARP for it floods and goes unanswered.
check "tenants isolated: blue-a cannot reach red's back network" no_ping_from blue-a "$(if_ip red-db net1)"
check "networks isolated: red-web (front) cannot ping red-dc2 (back)" no_ping_from red-web "$(if_ip red-dc2 eth0)"
# The policy web-to-db: front may open TCP 5432 on back, nothing else.
serve() { # serve POD PORT...: accept and close, in the background
	local pod=$1; shift
	tl_start "listen-$pod" "${VL_NS[$pod]}" python3 -c '
import socket, sys, select
ss = []
for p in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(p))); s.listen(64); ss.append(s)
while True:
    for s in select.select(ss, [], [])[0]:
        c, _ = s.accept(); c.close()' "$@"
}
tcp_ok() { ip netns exec "${VL_NS[$1]}" python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)' "$2" "$3"; }
tcp_refused() { ! tcp_ok "$@"; }
# listening POD PORT: a TCP socket listens on PORT in POD's namespace (its own
# /proc/net/tcp: state 0A). A fixed sleep was too short on a busy machine, and
# a test connection would use up a one-off iperf3 server.
listening() {
	ip netns exec "${VL_NS[$1]}" awk -v p="$(printf ':%04X' "$2")" \
		'$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' /proc/net/tcp
}
serve red-dc2 5432 5433
serve red-web 8080
for l in "red-dc2 5432" "red-dc2 5433" "red-web 8080"; do lab_wait 15 listening $l; done
# (retried all the same: a first SYN may meet a flow still being set up)
check "policy web-to-db: red-web (front) opens TCP 5432 on red-dc2 (back, in the dc)" \
	lab_wait 10 tcp_ok red-web "$(if_ip red-dc2 eth0)" 5432
check "policy web-to-db: TCP 5433 from red-web to red-dc2 is dropped" tcp_refused red-web "$(if_ip red-dc2 eth0)" 5433
check "policy web-to-db: red-dc2 (back) cannot open a connection to red-web" tcp_refused red-dc2 "${POD_IP[red-web]}" 8080
policy_drops() { vl_ctl c1 vr drop | grep -q POLICY_DENY; }
check "the policy's drops are counted (POLICY_DENY, by rule)" policy_drops
if [ "$DPDK_POD" = 1 ]; then
	check "red: dc kernel pod -> cloud DPDK pod on memif" ping_from red-dc "${POD_IP[red-dpdk]}"
fi
secs=2; [ "$SMALL" = 1 ] && secs=1
if command -v iperf3 >/dev/null; then
	tl_start iperf-red-dc "${VL_NS[red-dc]}" iperf3 -s -1 -B "${POD_IP[red-dc]}" -p 5201
	lab_wait 15 listening red-dc 5201
	check "red: TCP cloud -> dc (iperf3, $secs s)" ip netns exec "${VL_NS[red-web]}" iperf3 -c "${POD_IP[red-dc]}" -p 5201 -t "$secs" --connect-timeout 3000
fi
# A service: red's "web" on TCP 80, its VIP allocated from front, balanced
# over three pods on the three cloud hosts (port 8081); reached from the dc.
for pod in red-web red-db red-ops; do
	tl_start "web-$pod" "${VL_NS[$pod]}" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8081)); s.listen(64)
while True:
    c, _ = s.accept(); c.sendall(sys.argv[1].encode()); c.close()' "$pod"
done
al_apply <<SVC || tl_fail "cannot create the service"
kind: service
project: red
name: web
virtual_network: front
port: 80
protocol: tcp
backends: [{address: ${POD_IP[red-web]}, port: 8081}, {address: ${POD_IP[red-db]}, port: 8081},
           {address: ${POD_IP[red-ops]}, port: 8081}]
SVC
VIP=$(al_ctl get service web -p red -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d.get("items", [d])[0] if isinstance(d, dict) else d[0]
print(d["vip"])')
spread() { # spread POD N: "NAME=COUNT" per backend that answered, from N connections to the VIP
	ip netns exec "${VL_NS[$1]}" python3 -c '
import socket, sys, collections
c = collections.Counter()
for i in range(int(sys.argv[2])):
    try:
        s = socket.create_connection((sys.argv[1], 80), timeout=3); c[s.recv(64).decode()] += 1; s.close()
    except OSError:
        c["failed"] += 1
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))' "$VIP" "$2"
}
svc_spread() { # svc_spread POD N [BACKENDS]: every connection answered, each backend (3) a fair share
	local out want=${3:-3}; out=$(spread "$1" "$2")
	echo "$1 -> $VIP:80: $out" >>"$TL_DIR/service.txt"
	python3 -c '
import sys
c = dict(kv.split("=") for kv in sys.argv[1].split())
n, want = int(sys.argv[2]), int(sys.argv[3])
sys.exit(not ("failed" not in c and len(c) == want and all(int(v) >= n // (2 * want) for v in c.values())))' "$out" "$2" "$want"
}
n_conn=60; [ "$SMALL" = 1 ] && n_conn=30
check "service red/web (${VIP:-no VIP}:80): $n_conn connections from a dc server spread over 3 backends on 3 hosts" \
	lab_wait 10 svc_spread red-dc "$n_conn"
check "service red/web: a backend's own connections (red-web on c1) go to the other two" \
	lab_wait 10 svc_spread red-web "$n_conn" 2
drops=$(vl_ctl c1 vr drop 2>/dev/null)
check "the refused blue packets are counted (drop statistics)" grep -qE 'NO_ROUTE|ARP_NOT_ME' <<<"$drops"
if [ "$HAVE_FRR" = 1 ]; then
	gw_routes() {
		ip netns exec "$GW" vtysh --vty_socket "$TL_DIR/frr" -c "show bgp ipv4 vpn json" | python3 -c '
import json, sys
d = json.load(sys.stdin).get("routes", {}).get("routeDistinguishers", {})
print(sum(len(v) for v in d.values()))'
	}
	n_gw=$(gw_routes 2>/dev/null || echo 0)
	check "the DC gateway (FRR) learned the pods' VPNv4 /32s from both sites ($n_gw)" test "${n_gw:-0}" -ge 8
fi
# A pod keeps its connection while its node's agent restarts.
restart_keeps_traffic() {
	local t=$((secs + 2)) ping_pid loss
	tl_start iperf-red-db "${VL_NS[red-db]}" iperf3 -s -1 -B "${POD_IP[red-db]}" -p 5202
	lab_wait 15 listening red-db 5202
	ip netns exec "${VL_NS[red-web]}" iperf3 -c "${POD_IP[red-db]}" -p 5202 -t "$t" -b 10M >"$TL_DIR/restart-iperf.txt" 2>&1 &
	local iperf_pid=$!
	ip netns exec "${VL_NS[red-web]}" ping -c $((t * 50)) -i 0.02 -W 1 "${POD_IP[red-db]}" >"$TL_DIR/restart-ping.txt" 2>&1 &
	ping_pid=$!
	sleep 1
	tl_stop "${AL_AGENT_PID[c1]}"
	al_agent c1
	wait "$ping_pid"
	wait "$iperf_pid" || return 1
	grep -q ' 0% packet loss' "$TL_DIR/restart-ping.txt"
}
check "red-web keeps its TCP connection, no packet lost, while c1's agent restarts" restart_keeps_traffic
# The cloud agents peer with ctl1 and ctl2: with ctl1 gone, ctl2 carries on.
failover() {
	tl_stop "$CTL1_PID"
	add_pod c3 red red-late front
	lab_wait 15 ping_from red-web "${POD_IP[red-late]}" || return 1
	ping_from red-web "${POD_IP[red-db]}" || return 1
	tl_start ctl1 "$AL_NS" "$AL_CONTROL" -c "$TL_DIR/ctl1.conf"
	CTL1_PID=$TL_LAST_PID
	lab_wait 40 all_up
}
check "ctl1 stopped: a pod started afterwards on c3 is reachable from c1 (through ctl2)" failover

# ---- a machine-readable summary and a picture of the topology
write_outputs() {
	mkdir -p "$LAB_OUT"
	local secs=$1 sep="" h p c
	{
		printf '{\n  "duration_s": %s, "passed": %s, "failed": %s,\n  "hosts": [' "$secs" "$passed" "$failed"
		for h in "${HOSTS[@]}"; do
			printf '%s\n    {"name": "%s", "site": "%s", "fabric_ip": "%s", "mgmt_ip": "%s", "vrouter": "%s%s", "lcore": %s, "controllers": "%s"}' \
				"$sep" "$h" "${SITE[$h]}" "${FIP[$h]}" "${MIP[$h]}" "$TL" "$h" "${LCORE[$h]}" "${AL_CTRL[$h]}"
			sep=","
		done
		printf '\n  ],\n  "pods": ['
		sep=""
		for p in "${PODS[@]}"; do
			printf '%s\n    {"name": "%s", "host": "%s", "tenant": "%s", "kind": "%s", "interfaces": "%s"}' \
				"$sep" "$p" "${POD_HOST[$p]}" "${POD_TENANT[$p]}" "${POD_KIND[$p]}" "${POD_IFS[$p]% }"
			sep=","
		done
		printf '\n  ],\n  "services": [\n    {"name": "red/web", "network": "red:front", "vip": "%s", "port": 80, "backends": ["%s:8081", "%s:8081", "%s:8081"], "runs": "%s"}' \
			"${VIP:-}" "${POD_IP[red-web]}" "${POD_IP[red-db]}" "${POD_IP[red-ops]}" \
			"$(tr '\n' ';' <"$TL_DIR/service.txt" 2>/dev/null)"
		printf '\n  ],\n  "bgp_sessions": ['
		sep=""
		for c in ctl1 ctl2 ctl3; do
			while read -r peer state; do
				[ -n "$peer" ] || continue
				printf '%s\n    {"controller": "%s", "peer": "%s", "state": "%s"}' "$sep" "$c" "$peer" "$state"
				sep=","
			done < <(sessions "$c")
		done
		printf '\n  ],\n  "checks": ['
		sep=""
		for c in "${CHECKS[@]}"; do
			printf '%s\n    {"result": "%s", "check": "%s"}' "$sep" "${c%%|*}" "${c#*|}"
			sep=","
		done
		printf '\n  ]\n}\n'
	} >"$LAB_OUT/summary.json"
	{
		echo 'graph tern_lab {'
		echo '  rankdir=LR; node [fontname="Helvetica", fontsize=10]; edge [fontname="Helvetica", fontsize=9];'
		for site in cloud dc; do
			echo "  subgraph cluster_$site { label=\"site $site\"; style=rounded;"
			[ "$site" = cloud ] && echo '    fabric [label="fabric bridge\n10.255.1.0/24", shape=box]; api [label="tern-api", shape=cylinder]; ctl1 [label="tern-control ctl1", shape=component]; ctl2 [label="tern-control ctl2", shape=component];'
			[ "$site" = dc ] && echo '    dcfab [label="dc fabric\n10.255.2.0/24", shape=box]; ctl3 [label="tern-control ctl3", shape=component];'
			for h in "${HOSTS[@]}"; do
				[ "${SITE[$h]}" = "$site" ] || continue
				echo "    $h [label=\"$h\\ntern-vrouter + agent\\n${FIP[$h]}\", shape=box3d];"
			done
			for p in "${PODS[@]}"; do
				[ "${SITE[${POD_HOST[$p]}]}" = "$site" ] || continue
				local color=firebrick shape=ellipse
				[ "${POD_TENANT[$p]}" = blue ] && color=royalblue
				[ "${POD_KIND[$p]}" = kernel ] || shape=hexagon
				echo "    \"$p\" [label=\"$p\\n${POD_IFS[$p]// /\\n}\", color=$color, fontcolor=$color, shape=$shape];"
			done
			echo '  }'
		done
		echo '  rtr [label="router\n(kernel IP forwarding)", shape=diamond];'
		[ "$HAVE_FRR" = 1 ] && echo '  gw [label="DC gateway\nFRR bgpd AS 65000", shape=octagon]; gw -- ctl1 [style=dashed, label="eBGP VPNv4"]; gw -- ctl3 [style=dashed, label="eBGP VPNv4"];'
		echo '  fabric -- rtr; rtr -- dcfab; ctl1 -- ctl2 [style=dashed]; ctl1 -- ctl3 [style=dashed, label="iBGP"]; ctl2 -- ctl3 [style=dashed];'
		for h in "${HOSTS[@]}"; do
			if [ "${SITE[$h]}" = cloud ]; then echo "  $h -- fabric; $h -- ctl1 [style=dotted]; $h -- ctl2 [style=dotted];"
			else echo "  $h -- dcfab; $h -- ctl3 [style=dotted];"; fi
		done
		for p in "${PODS[@]}"; do
			local color=firebrick; [ "${POD_TENANT[$p]}" = blue ] && color=royalblue
			echo "  ${POD_HOST[$p]} -- \"$p\" [color=$color];"
		done
		echo '}'
	} >"$LAB_OUT/topology.dot"
	if command -v dot >/dev/null; then
		dot -Tsvg "$LAB_OUT/topology.dot" -o "$LAB_OUT/topology.svg"
		dot -Tpng "$LAB_OUT/topology.dot" -o "$LAB_OUT/topology.png"
	fi
}
secs=$(( $(date +%s) - start ))
write_outputs "$secs"
echo
echo "$passed passed, $failed failed in $secs s"
echo "summary: $LAB_OUT/summary.json, picture: $LAB_OUT/topology.$(command -v dot >/dev/null && echo svg || echo 'dot (install graphviz for SVG/PNG)')"
[ "$failed" -eq 0 ]
