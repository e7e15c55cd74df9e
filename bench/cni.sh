#!/usr/bin/env bash
# bench/cni.sh — CNI ADD latency (bench/run cni, i.e. make bench ONLY=cni).
#   add1  ADD of a pod with one interface, BENCH_PODS pods (default 100), p50/p99
#   add3  ADD of a pod with three interfaces (three networks), p50/p99
#   add3-l3  the same on networks in forwarding mode l3 (add1 and add3 use
#         tern-api's default, l2_l3: EVPN objects per port on top)
# Both against the reference `bridge` plugin with host-local IPAM (Debian
# containernetworking-plugins), called the same way in the same run, once per
# interface (three networks = three bridge calls). Printed per interface, and
# the ratio tern-per-interface / bridge-per-interface (lower is better).
# tern's ADD is done when the plugin returns: the interfaces are in the pod,
# the vrouter forwards for them and the agent has announced them.
# Pods are deleted (DEL) between samples, outside the timing.
set -u
cd "$(dirname "$0")/.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
BUILD=${BUILD:-build}
source tests/lib/agentlab.sh
PODS=${BENCH_PODS:-100}
BRIDGE=/usr/lib/cni/bridge
[ -x "$BRIDGE" ] || { echo "bench cni: no $BRIDGE (apt-get install containernetworking-plugins)" >&2; exit 1; }

pct() { # pct P < values (microseconds) -> milliseconds with 2 decimals
	sort -n | awk -v p="$1" '{v[NR]=$1} END {i=int((NR-1)*p/100)+1; printf "%.2f", v[i]/1000}'
}

bridge_conf() { # bridge_conf N
	printf '{"cniVersion": "1.0.0", "name": "br%s", "type": "bridge", "bridge": "cnibr%s", "isGateway": true, "ipam": {"type": "host-local", "subnet": "10.%s.0.0/16", "dataDir": "%s"}}\n' \
		"$1" "$1" "$((100 + $1))" "$TL_DIR/ipam"
}
tern_netconf() { # tern_netconf NETWORK ANNOTATION
	printf '{"cniVersion": "1.1.0", "name": "tern", "type": "tern-cni", "agentSocket": "%s", "project": "demo", "network": "%s", "runtimeConfig": {"k8s.v1.cni.cncf.io/networks": "%s"}}\n' \
		"$TL_DIR/h1/agent.sock" "$1" "$2"
}
# plugin BINARY CMD CID IFNAME CNI_ARGS NETCONF: as a runtime on the node execs
# it: one fork, one exec, only PATH and the CNI_* variables in its environment
# (ENV_VARS: the names exported here, listed once, outside the timing).
plugin() {
	(
		path=$PATH netns=/run/netns/$P
		unset "${ENV_VARS[@]}"
		export PATH="$path" CNI_COMMAND="$2" CNI_CONTAINERID="$3" CNI_NETNS="$netns" \
			CNI_IFNAME="$4" CNI_ARGS="$5" CNI_PATH=/usr/lib/cni
		exec "$1" >/dev/null <<<"$6"
	)
}
# Time stamps from bash itself: a $(date) costs a fork and an exec (~5 ms
# here), part of which would be counted in every sample.
now_us() { NOW=${EPOCHREALTIME/./}; }

# The timed loop runs inside the node's namespace (this script again, with
# --inside): entering a namespace costs ~18 ms per process here, which a
# runtime on the node does not pay.
if [ "${1:-}" = --inside ]; then
	n=$2 pfx=${3:-n} ann=""
	[ "$n" -ge 2 ] && ann="${pfx}2"
	[ "$n" -ge 3 ] && ann="${pfx}2, ${pfx}3"
	mapfile -t ENV_VARS < <(compgen -e)
	tconf=$(tern_netconf "${pfx}1" "$ann")
	bconf=() bif=()
	for ((k = 1; k <= n; k++)); do
		bconf[k]=$(bridge_conf "$k")
		bif[k]=eth0
		[ "$k" -gt 1 ] && bif[k]="net$(( k - 1 ))"
	done
	for ((i = 1; i <= PODS; i++)); do
		args="K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p$n-$i"
		now_us; t=$NOW
		plugin "$AL_CNI" ADD "c$n-$i" eth0 "$args" "$tconf" ||
			{ echo "bench cni: tern ADD failed" >&2; exit 1; }
		now_us; echo $(( NOW - t )) >>"$TL_DIR/tern-$n"
		plugin "$AL_CNI" DEL "c$n-$i" eth0 "$args" "$tconf"
		now_us; t=$NOW
		for ((k = 1; k <= n; k++)); do
			plugin "$BRIDGE" ADD "b$n-$i" "${bif[k]}" "" "${bconf[k]}" ||
				{ echo "bench cni: bridge ADD failed" >&2; exit 1; }
		done
		now_us; echo $(( NOW - t )) >>"$TL_DIR/bridge-$n"
		for ((k = 1; k <= n; k++)); do
			plugin "$BRIDGE" DEL "b$n-$i" "${bif[k]}" "" "${bconf[k]}"
		done
	done
	exit 0
fi

tl_init
al_init
al_host h1 0 10.255.0.1 10.254.0.11
al_networks n1=10.1.0.0/16 n2=10.2.0.0/16 n3=10.3.0.0/16
for k in 1 2 3; do
	printf 'kind: virtual-network\nproject: demo\nname: r%s\nforwarding_mode: l3\nsubnets: [{cidr: "10.%s.0.0/16"}]\n' \
		"$k" "$((10 + k))" | al_apply || { echo "bench cni: cannot create network r$k" >&2; exit 1; }
done
AL_AGENT_LOG=warn al_agent h1
HNS=${VL_NS[h1]}
P=$(tl_netns pod)

run_case() { # run_case NIFS [NETWORK_PREFIX NAME_SUFFIX]
	local n=$1 pfx=${2:-n} sfx=${3:-}
	: >"$TL_DIR/tern-$n"; : >"$TL_DIR/bridge-$n"
	ip netns exec "$HNS" env TL_DIR="$TL_DIR" AL_CNI="$(realpath "$AL_CNI")" P="$P" PODS="$PODS" \
		BRIDGE="$BRIDGE" bash "$0" --inside "$n" "$pfx" || exit 1
	local tp50 tp99 bp50 bperif tperif
	tp50=$(pct 50 <"$TL_DIR/tern-$n") tp99=$(pct 99 <"$TL_DIR/tern-$n")
	bp50=$(pct 50 <"$TL_DIR/bridge-$n")
	tperif=$(awk -v a="$tp50" -v n="$n" 'BEGIN {printf "%.2f", a / n}')
	bperif=$(awk -v a="$bp50" -v n="$n" 'BEGIN {printf "%.2f", a / n}')
	echo "bench cni.add$n$sfx: tern-p50=${tp50} tern-p99=${tp99} bridge-per-if=${bperif} ratio=$(awk -v a="$tperif" -v b="$bperif" 'BEGIN {printf "%.2f", a / b}')"
}
run_case 1
run_case 3
run_case 3 r -l3
