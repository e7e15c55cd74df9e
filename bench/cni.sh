#!/usr/bin/env bash
# bench/cni.sh — CNI ADD latency (bench/run cni, i.e. make bench ONLY=cni).
#   add1  ADD of a pod with one interface, BENCH_PODS pods (default 100), p50/p99
#   add3  ADD of a pod with three interfaces (three networks), p50/p99
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
tl_init
al_init
al_host h1 0 10.255.0.1 10.254.0.11
al_networks n1=10.1.0.0/16 n2=10.2.0.0/16 n3=10.3.0.0/16
AL_AGENT_LOG=warn al_agent h1
HNS=${VL_NS[h1]}
P=$(tl_netns pod)

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000 )); }  # microseconds
pct() { # pct P < values (microseconds) -> milliseconds with 2 decimals
	sort -n | awk -v p="$1" '{v[NR]=$1} END {i=int((NR-1)*p/100)+1; printf "%.2f", v[i]/1000}'
}

bridge_conf() { # bridge_conf N
	printf '{"cniVersion": "1.0.0", "name": "br%s", "type": "bridge", "bridge": "cnibr%s", "isGateway": true, "ipam": {"type": "host-local", "subnet": "10.%s.0.0/16", "dataDir": "%s"}}\n' \
		"$1" "$1" "$((100 + $1))" "$TL_DIR/ipam"
}
bridge_call() { # bridge_call CMD CID IFNAME N
	ip netns exec "$HNS" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="/run/netns/$P" CNI_IFNAME="$3" CNI_PATH=/usr/lib/cni "$BRIDGE" \
		<<<"$(bridge_conf "$4")" >/dev/null
}

run_case() { # run_case NIFS
	local n=$1 i k t ann=""
	[ "$n" -ge 2 ] && ann="n2"
	[ "$n" -ge 3 ] && ann="n2, n3"
	: >"$TL_DIR/tern-$n" ; : >"$TL_DIR/bridge-$n"
	for ((i = 1; i <= PODS; i++)); do
		t=$(date +%s%N)
		al_cni h1 ADD "c$n-$i" "$P" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p$n-$i" \
			<<<"$(al_netconf h1 n1 "$ann")" >/dev/null || { echo "bench cni: tern ADD failed" >&2; exit 1; }
		ms_since "$t" >>"$TL_DIR/tern-$n"
		al_cni h1 DEL "c$n-$i" "$P" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p$n-$i" \
			<<<"$(al_netconf h1 n1 "$ann")" >/dev/null
		t=$(date +%s%N)
		for ((k = 1; k <= n; k++)); do
			bridge_call ADD "b$n-$i" "$([ $k = 1 ] && echo eth0 || echo net$((k - 1)))" "$k" ||
				{ echo "bench cni: bridge ADD failed" >&2; exit 1; }
		done
		ms_since "$t" >>"$TL_DIR/bridge-$n"
		for ((k = 1; k <= n; k++)); do
			bridge_call DEL "b$n-$i" "$([ $k = 1 ] && echo eth0 || echo net$((k - 1)))" "$k"
		done
	done
	local tp50 tp99 bp50 bperif tperif
	tp50=$(pct 50 <"$TL_DIR/tern-$n") tp99=$(pct 99 <"$TL_DIR/tern-$n")
	bp50=$(pct 50 <"$TL_DIR/bridge-$n")
	tperif=$(awk -v a="$tp50" -v n="$n" 'BEGIN {printf "%.2f", a / n}')
	bperif=$(awk -v a="$bp50" -v n="$n" 'BEGIN {printf "%.2f", a / n}')
	echo "bench cni.add$n: tern-p50=${tp50} tern-p99=${tp99} bridge-per-if=${bperif} ratio=$(awk -v a="$tperif" -v b="$bperif" 'BEGIN {printf "%.2f", a / b}')"
}
run_case 1
run_case 3
