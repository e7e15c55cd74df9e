#!/usr/bin/env bash
# The laboratory (make demo): a tern network on one machine, every host a
# network namespace, every piece a real process, proven with real traffic.
#
#   site "cloud": hosts c1, c2 on a bridged fabric 10.255.1.0/24
#   site "dc":    host d1 on 10.255.2.0/24, behind router rtr (kernel IP forwarding)
#   each host runs its own tern-vrouter; tenants red and blue both use 10.1.0.0/24;
#   pods talk across hosts and sites over MPLSoUDP; a DPDK pod sits on memif.
#
# Until tern-control and tern-agent exist, this script programs the vrouters
# itself (ternctl), as the agent will. Options: --keep (leave it running),
# --down (tear down a kept lab), --no-dpdk-pod.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
LAB_DIR=${LAB_DIR:-/run/tern/lab}
LAB_OUT=${LAB_OUT:-$BUILD/lab}     # summary.json, topology.{dot,svg,png}: kept after teardown
KEEP=0 DPDK_POD=1
for a in "$@"; do
	case $a in
	--keep) KEEP=1;;
	--down) DOWN=1;;
	--no-dpdk-pod) DPDK_POD=0;;
	*) echo "usage: $0 [--keep] [--down] [--no-dpdk-pod]" >&2; exit 2;;
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
  ip netns list | grep lab-
  ip netns exec lab-red-web ping 10.1.0.3
  $VL_CTL --socket $TL_DIR/c1/ctl.sock vr route list --vrf 1
  $VL_CTL --socket $TL_DIR/c1/ctl.sock vr drop
Stop it: make demo-down
MSG
		exit 0
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
start=$(date +%s)

# ---- underlay: cloud bridge, dc link, router
FAB=$(tl_netns fabric)
ip -n "$FAB" link add br0 type bridge
ip -n "$FAB" link set br0 up
RTR=$(tl_netns rtr)
ip netns exec "$RTR" sysctl -qw net.ipv4.ip_forward=1
tl_veth rtr-c "$RTR" br-rtr "$FAB"
ip -n "$FAB" link set br-rtr master br0
ip -n "$RTR" addr add 10.255.1.254/24 dev rtr-c
declare -A GWMAC SUBNET_GW
GWMAC[cloud]=$(ip netns exec "$RTR" cat /sys/class/net/rtr-c/address)

declare -A SITE LCORE=( [c1]=0 [c2]=1 [d1]=0 )
SITE=( [c1]=cloud [c2]=cloud [d1]=dc )
declare -A FIP=( [c1]=10.255.1.1 [c2]=10.255.1.2 [d1]=10.255.2.3 )
for h in c1 c2 d1; do
	vl_host "$h" "${LCORE[$h]}"
	ns=${VL_NS[$h]}
	if [ "${SITE[$h]}" = cloud ]; then
		tl_veth "fab-$h" "$ns" "br-$h" "$FAB"
		ip -n "$FAB" link set "br-$h" master br0
	else
		tl_veth "fab-$h" "$ns" rtr-d "$RTR"
		ip -n "$RTR" addr add 10.255.2.254/24 dev rtr-d
		GWMAC[dc]=$(ip netns exec "$RTR" cat /sys/class/net/rtr-d/address)
	fi
	vl_quiet_if "$ns" "fab-$h"
	VL_FABMAC[$h]=$(ip netns exec "$ns" cat "/sys/class/net/fab-$h/address")
	VL_FABIP[$h]=${FIP[$h]}
	vl_do "$h" vr vif add --id 0 --type fabric --ifname "fab-$h" --ip "${FIP[$h]}" --mac "${VL_FABMAC[$h]}"
	vl_do "$h" vr nh add 3 --type receive
done
# The router resolves the vrouters' fabric addresses by ARP: each vrouter
# answers for its own address.

# ---- overlay: what the agent will do. Each pod: a local route and an incoming
# label on its host; a tunnel route on every other host.
declare -A POD_HOST POD_VRF POD_IP POD_LABEL POD_VIF
PODS=()
LABEL=100
tunnel_mac() { # MAC of the next underlay hop from host $1 towards host $2
	if [ "${SITE[$1]}" = "${SITE[$2]}" ]; then echo "${VL_FABMAC[$2]}"; else echo "${GWMAC[${SITE[$1]}]}"; fi
}
add_kernel_pod() { # add_kernel_pod HOST POD VRF IP [IFNAME]
	local h=$1 pod=$2 vrf=$3 ip=$4
	vl_pod "$h" "$pod" "$vrf" "$ip/24"
	ip -n "${VL_NS[$pod]}" route add default via 10.1.0.254 2>/dev/null
	POD_VIF[$pod]=$VL_VIF
	register_pod "$h" "$pod" "$vrf" "$ip" "$VL_VIF"
}
register_pod() { # program the pod's reachability everywhere
	local h=$1 pod=$2 vrf=$3 ip=$4 vif=$5
	LABEL=$((LABEL + 1))
	POD_HOST[$pod]=$h POD_VRF[$pod]=$vrf POD_IP[$pod]=$ip POD_LABEL[$pod]=$LABEL
	PODS+=("$pod")
	vl_do "$h" vr nh add "$LABEL" --type encap --vif "$vif" --vrf "$vrf"
	vl_do "$h" vr route add --vrf "$vrf" "$ip/32" --nh "$LABEL"
	vl_do "$h" vr route add --vrf "$vrf" 10.1.0.254/32 --nh 3
	vl_do "$h" vr mpls add "$LABEL" --nh "$LABEL"
	for other in c1 c2 d1; do
		[ "$other" = "$h" ] && continue
		vl_do "$other" vr nh add "$LABEL" --type tunnel --vif 0 --vrf "$vrf" --encap mplsoudp \
			--dip "${FIP[$h]}" --dmac "$(tunnel_mac "$other" "$h")" --label "$LABEL"
		vl_do "$other" vr route add --vrf "$vrf" "$ip/32" --nh "$LABEL"
	done
}

add_kernel_pod c1 red-web 1 10.1.0.2
add_kernel_pod c2 red-db 1 10.1.0.3
add_kernel_pod d1 red-dc 1 10.1.0.4
add_kernel_pod c1 blue-a 2 10.1.0.2
add_kernel_pod d1 blue-b 2 10.1.0.4
if [ "$DPDK_POD" = 1 ] && command -v dpdk-testpmd >/dev/null; then
	mkdir -p "$TL_DIR/pods/red-dpdk" && chmod 0700 "$TL_DIR/pods/red-dpdk"
	vl_do c2 vr vif add --id 20 --type memif --socket "$TL_DIR/pods/red-dpdk/memif.sock" --role server \
		--vrf 1 --mac 02:dd:00:00:00:05 --name red-dpdk
	register_pod c2 red-dpdk 1 10.1.0.5 20
	tl_start red-dpdk "" dpdk-testpmd --no-huge -m 256 --no-pci -l 0,1 --file-prefix lab-dpdk --no-shconf \
		--log-level error "--vdev=net_memif0,role=client,socket=$TL_DIR/pods/red-dpdk/memif.sock,socket-abstract=no,id=0,mac=02:dd:00:00:00:05" \
		-- --forward-mode=icmpecho --auto-start --total-num-mbufs=2048 --stats-period 60
	sleep 2
fi

# ---- what was built
echo
echo "tern lab: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf '%-6s %-6s %-12s %-18s %s\n' HOST SITE FABRIC-IP VROUTER "INSTANCE / LCORE"
for h in c1 c2 d1; do
	printf '%-6s %-6s %-12s %-18s %s\n' "$h" "${SITE[$h]}" "${FIP[$h]}" "tern-vrouter" "lab-$h / ${LCORE[$h]}"
done
echo
printf '%-10s %-6s %-6s %-10s %-6s %s\n' POD HOST TENANT ADDRESS LABEL KIND
for p in "${PODS[@]}"; do
	kind=kernel; [ "$p" = red-dpdk ] && kind="dpdk (memif)"
	tenant=red; [ "${POD_VRF[$p]}" = 2 ] && tenant=blue
	printf '%-10s %-6s %-6s %-10s %-6s %s\n' "$p" "${POD_HOST[$p]}" "$tenant" "${POD_IP[$p]}" "${POD_LABEL[$p]}" "$kind"
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
check "red: c1 -> c2 across the cloud fabric (MPLSoUDP)" ping_from red-web 10.1.0.3
check "red: cloud -> dc across the routed L3 network" ping_from red-web 10.1.0.4
check "red: dc -> cloud" ping_from red-dc 10.1.0.3
check "blue: cloud -> dc, same addresses as red" ping_from blue-a 10.1.0.4
check "tenants isolated: blue cannot reach red's 10.1.0.3" no_ping_from blue-a 10.1.0.3
if [ -n "${POD_HOST[red-dpdk]:-}" ]; then
	check "red: dc kernel pod -> cloud DPDK pod on memif" ping_from red-dc 10.1.0.5
fi
if command -v iperf3 >/dev/null; then
	tl_start iperf-red-dc "${VL_NS[red-dc]}" iperf3 -s -1 -B 10.1.0.4 -p 5201
	sleep 0.5
	check "red: TCP cloud -> dc (iperf3, 2 s)" ip netns exec "${VL_NS[red-web]}" iperf3 -c 10.1.0.4 -p 5201 -t 2 --connect-timeout 3000
fi
drops=$(vl_ctl c1 vr drop 2>/dev/null)
check "the refused blue packets are counted (drop statistics)" grep -qE 'NO_ROUTE|ARP_NOT_ME' <<<"$drops"

# ---- a machine-readable summary and a picture of the topology
dot_pods() { # the pods of one site, as nodes inside its cluster
	local p
	for p in "${PODS[@]}"; do
		[ "${SITE[${POD_HOST[$p]}]}" = "$1" ] || continue
		local color=firebrick; [ "${POD_VRF[$p]}" = 2 ] && color=royalblue
		local shape=ellipse; [ "$p" = red-dpdk ] && shape=hexagon
		echo "    \"$p\" [label=\"$p\\n${POD_IP[$p]}\", color=$color, fontcolor=$color, shape=$shape];"
	done
}
write_outputs() {
	mkdir -p "$LAB_OUT"
	local secs=$1 sep="" h p c
	{
		printf '{\n  "duration_s": %s, "passed": %s, "failed": %s,\n  "hosts": [' "$secs" "$passed" "$failed"
		for h in c1 c2 d1; do
			printf '%s\n    {"name": "%s", "site": "%s", "fabric_ip": "%s", "vrouter": "%s%s", "lcore": %s}' \
				"$sep" "$h" "${SITE[$h]}" "${FIP[$h]}" "$TL" "$h" "${LCORE[$h]}"
			sep=","
		done
		printf '\n  ],\n  "pods": ['
		sep=""
		for p in "${PODS[@]}"; do
			local kind=kernel; [ "$p" = red-dpdk ] && kind=memif
			local tenant=red; [ "${POD_VRF[$p]}" = 2 ] && tenant=blue
			printf '%s\n    {"name": "%s", "host": "%s", "tenant": "%s", "vrf": %s, "address": "%s", "label": %s, "kind": "%s"}' \
				"$sep" "$p" "${POD_HOST[$p]}" "$tenant" "${POD_VRF[$p]}" "${POD_IP[$p]}" "${POD_LABEL[$p]}" "$kind"
			sep=","
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
		echo '  subgraph cluster_cloud { label="site cloud (10.255.1.0/24)"; style=rounded;'
		echo '    fabric [label="fabric bridge", shape=box];'
		for h in c1 c2; do echo "    $h [label=\"$h\\ntern-vrouter\\n${FIP[$h]}\", shape=box3d];"; done
		dot_pods cloud
		echo '  }'
		echo '  subgraph cluster_dc { label="site dc (10.255.2.0/24)"; style=rounded;'
		echo "    d1 [label=\"d1\\ntern-vrouter\\n${FIP[d1]}\", shape=box3d];"
		dot_pods dc
		echo '  }'
		echo '  rtr [label="router\n(kernel IP forwarding)", shape=diamond];'
		echo '  c1 -- fabric; c2 -- fabric; fabric -- rtr; rtr -- d1;'
		for p in "${PODS[@]}"; do
			local color=firebrick; [ "${POD_VRF[$p]}" = 2 ] && color=royalblue
			echo "  ${POD_HOST[$p]} -- \"$p\" [color=$color, label=\"label ${POD_LABEL[$p]}\"];"
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
