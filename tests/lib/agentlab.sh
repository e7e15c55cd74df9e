# tests/lib/agentlab.sh — a tern network run the way it runs in production:
# a control namespace with tern-api and tern-control, compute hosts each with
# its own tern-vrouter and tern-agent, pods given their interfaces by tern-cni
# called as a container runtime calls it. On top of netns.sh and vrlab.sh.
#
#   al_init                           # control namespace: bridges, tern-api, token
#   al_host h1 0 10.255.0.1 10.254.0.11   # vrouter on lcore 0, fabric and management addresses
#   al_control h1 h2                  # tern-control peering with the agents of h1, h2
#   al_agent h1                       # tern-agent of h1 (AL_AGENT_PID[h1])
#   al_apply <<EOF ... EOF            # ternctl apply -f - against tern-api
#   al_cni h1 ADD cid1 "$podns" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p1" <netconf
AL_API=$BUILD/api/tern-api
AL_CONTROL=$BUILD/control/tern-control
AL_AGENT=$BUILD/agent/tern-agent
AL_CNI=$BUILD/cni/tern-cni
declare -A AL_MGMT AL_AGENT_PID
# Per host, optional: its controllers (default 10.254.0.1) and underlay gateway.
declare -A AL_CTRL AL_FGW
AL_HOSTS=()

al_need() {
	local b
	for b in "$AL_API" "$AL_CONTROL" "$AL_AGENT" "$AL_CNI" "$VL_VROUTER" "$VL_CTL"; do
		[ -x "$b" ] || tl_fail "$b is not built"
	done
}

# The control namespace: a management bridge (10.254.0.1/24) and a fabric
# bridge (the underlay switch); tern-api listens on the management address.
al_init() {
	al_need
	AL_NS=$(tl_netns ctl)
	ip -n "$AL_NS" link add mgmt type bridge
	ip -n "$AL_NS" link add fabric type bridge
	ip -n "$AL_NS" link set mgmt up
	ip -n "$AL_NS" link set fabric up
	ip -n "$AL_NS" addr add 10.254.0.1/24 dev mgmt
	AL_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
	echo "$AL_TOKEN admin name=lab" >"$TL_DIR/tokens"
	echo "$AL_TOKEN" >"$TL_DIR/token"
	chmod 600 "$TL_DIR/tokens" "$TL_DIR/token"
	tl_start tern-api "$AL_NS" "$AL_API" --db "$TL_DIR/api.db" --listen 10.254.0.1:8082 \
		--tokens "$TL_DIR/tokens" --log-level warn
	AL_URL=http://10.254.0.1:8082
	tl_wait "tern-api" 20 ip netns exec "$AL_NS" curl -sf "$AL_URL/v1/health"
}

# al_host NAME LCORE FABRIC_IP MGMT_IP [BRIDGE_NS BRIDGE]: the fabric port
# joins BRIDGE in BRIDGE_NS (default: the control namespace's "fabric").
al_host() {
	local h=$1 lcore=$2 fip=$3 mip=$4 brns=${5:-$AL_NS} br=${6:-fabric}
	vl_host "$h" "$lcore"
	local ns=${VL_NS[$h]}
	tl_veth "fab-$h" "$ns" "f-$h" "$brns"
	ip -n "$brns" link set "f-$h" master "$br"
	vl_quiet_if "$ns" "fab-$h"
	VL_FABMAC[$h]=$(ip netns exec "$ns" cat "/sys/class/net/fab-$h/address")
	VL_FABIP[$h]=$fip
	vl_do "$h" vr vif add --id 0 --type fabric --ifname "fab-$h" --ip "$fip" --mac "${VL_FABMAC[$h]}"
	tl_veth "mg-$h" "$ns" "m-$h" "$AL_NS"
	ip -n "$AL_NS" link set "m-$h" master mgmt
	ip -n "$ns" addr add "$mip/24" dev "mg-$h"
	AL_MGMT[$h]=$mip
	AL_HOSTS+=("$h")
}

# al_control HOST...: tern-control on 10.254.0.1; the agents of the
# management network connect as route-reflector clients through one
# [neighbors 10.254.0.0/24] section (HOSTs: who is expected, for re-starts).
al_control() {
	AL_CONTROL_HOSTS=("$@")
	{
		printf 'router-id 10.254.0.1\nas 64512\nlisten 10.254.0.1 179\nhold-time 30\n'
		printf 'connect-retry 1\ncontrol-socket %s\n' "$TL_DIR/control.sock"
		printf '\n[neighbors 10.254.0.0/24]\nas 64512\nfamilies vpnv4 vpnv6\nrr-client\n'
	} >"$TL_DIR/control.conf"
	tl_start tern-control "$AL_NS" "$AL_CONTROL" -c "$TL_DIR/control.conf" --log-level info
	AL_CONTROL_PID=$TL_LAST_PID
	tl_wait "tern-control" 20 "$VL_CTL" bgp neighbors --socket "$TL_DIR/control.sock"
}

al_agent() {
	local h=$1
	local extra=() c
	for c in ${AL_CTRL[$h]:-10.254.0.1}; do extra+=(--controller "$c"); done
	[ -n "${AL_FGW[$h]:-}" ] && extra+=(--fabric-gw "${AL_FGW[$h]}")
	# The agent owns the fabric vif from now on: it adds it again to a restarted vrouter.
	extra+=(--fabric-if "fab-$h" --fabric-ip "${VL_FABIP[$h]}")
	mkdir -p "$TL_DIR/$h/state"
	tl_start "agent-$h" "${VL_NS[$h]}" "$AL_AGENT" --node "$h" --api "$AL_URL" \
		--token-file "$TL_DIR/token" --vrouter-socket "$TL_DIR/$h/ctl.sock" \
		"${extra[@]}" --cni-socket "$TL_DIR/$h/agent.sock" \
		--state-dir "$TL_DIR/$h/state" --pod-dir "$TL_DIR/$h/pods" --pod-mtu 1400 \
		--log-level "${AL_AGENT_LOG:-info}"
	AL_AGENT_PID[$h]=$TL_LAST_PID
	tl_wait "agent $h ready" 30 al_status_ok "$h"
}

al_status() { # the agent's status as tern-cni's STATUS sees it
	local h=$1
	al_cni "$h" STATUS "" "" "" "" <<<"$(al_netconf "$h" red)"
}
al_status_ok() { al_status "$1" >/dev/null 2>&1; }

# al_netconf HOST NETWORK [ANNOTATION [PROJECT]]
al_netconf() {
	local h=$1 net=$2 ann=${3:-} project=${4:-demo}
	printf '{"cniVersion": "1.1.0", "name": "tern", "type": "tern-cni", "agentSocket": "%s", "project": "%s", "network": "%s"' \
		"$TL_DIR/$h/agent.sock" "$project" "$net"
	[ -n "$ann" ] && printf ', "runtimeConfig": {"k8s.v1.cni.cncf.io/networks": "%s"}' "$ann"
	printf '}\n'
}

# al_cni HOST COMMAND CONTAINER_ID NETNS_NAME IFNAME CNI_ARGS < netconf
al_cni() {
	local h=$1 cmd=$2 cid=$3 pns=$4 ifn=$5 args=$6
	local netns=""
	[ -n "$pns" ] && netns=/run/netns/$pns
	ip netns exec "${VL_NS[$h]}" env -i PATH="$PATH" CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" \
		CNI_NETNS="$netns" CNI_IFNAME="$ifn" CNI_ARGS="$args" CNI_PATH="$(dirname "$AL_CNI")" \
		"$AL_CNI"
}

al_apply() {
	ip netns exec "$AL_NS" env TERN_API="$AL_URL" TERN_TOKEN="$AL_TOKEN" "$VL_CTL" apply -f - >/dev/null
}

al_ctl() {
	ip netns exec "$AL_NS" env TERN_API="$AL_URL" TERN_TOKEN="$AL_TOKEN" "$VL_CTL" "$@"
}

# al_fip NAME POOL POD: floating IP NAME (project demo) from POOL for pod POD's
# interface; prints its address. Fails the test when it cannot be made.
al_fip() {
	local name=$1 pool=$2 pod=$3 vmi
	vmi=$(al_ctl get vmi -o json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin); items = d.get("items", d) if isinstance(d, dict) else d
print([v["fq_name"] for v in items if v.get("owner") == "demo/" + sys.argv[1]][0])' "$pod") ||
		tl_fail "no interface of pod $pod for floating IP $name"
	printf 'kind: floating-ip\nproject: demo\nname: %s\nfloating_ip_pool: %s\nvirtual_machine_interface: %s\n' \
		"$name" "$pool" "$vmi" | al_apply || tl_fail "cannot create the floating IP $name"
	al_ctl get floating-ip "$name" -p demo -o json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d.get("items", [d])[0] if isinstance(d, dict) else d[0]
print(d["address"])'
}

# al_prev NETCONF RESULT: the netconf with prevResult, as runtimes send CHECK and DEL
al_prev() {
	python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c["prevResult"]=json.loads(sys.argv[2]); print(json.dumps(c))' "$1" "$2"
}

# al_networks NAME=CIDR[,CIDR...] ...: project "demo" and its virtual networks
al_networks() {
	local spec name c sep
	{
		printf 'kind: project\nname: demo\n'
		for spec in "$@"; do
			name=${spec%%=*}
			printf -- '---\nkind: virtual-network\nproject: demo\nname: %s\nsubnets: [' "$name"
			sep=""
			for c in $(tr ',' ' ' <<<"${spec#*=}"); do
				printf '%s{cidr: "%s"}' "$sep" "$c"
				sep=", "
			done
			printf ']\n'
		done
	} | al_apply || tl_fail "cannot create the networks in tern-api"
}

# al_control_families "FAMILIES" HOST...: al_control with the families the
# agents' sessions carry (al_control's are "vpnv4 vpnv6"; L2 networks need
# "vpnv4 vpnv6 evpn").
al_control_families() {
	local fams=$1
	shift
	AL_CONTROL_HOSTS=("$@")
	{
		printf 'router-id 10.254.0.1\nas 64512\nlisten 10.254.0.1 179\nhold-time 30\n'
		printf 'connect-retry 1\ncontrol-socket %s\n' "$TL_DIR/control.sock"
		printf '\n[neighbors 10.254.0.0/24]\nas 64512\nfamilies %s\nrr-client\n' "$fams"
	} >"$TL_DIR/control.conf"
	tl_start tern-control "$AL_NS" "$AL_CONTROL" -c "$TL_DIR/control.conf" --log-level info
	AL_CONTROL_PID=$TL_LAST_PID
	tl_wait "tern-control" 20 "$VL_CTL" bgp neighbors --socket "$TL_DIR/control.sock"
}

# al_sessions_up N: wait until the controller has N sessions Established (the agents')
al_sessions_up() {
	tl_wait "agents' BGP sessions" 30 bash -c "'$VL_CTL' bgp neighbors --socket '$TL_DIR/control.sock' | grep -c Established | grep -qx $1"
}

# al_pod HOST NAME NETWORK: a one-interface pod made by tern-cni ADD, as a
# runtime makes it; AL_POD_NS[NAME] is its namespace, AL_POD_IP[NAME] its address.
declare -A AL_POD_IP AL_POD_NS
al_pod() {
	local ns out
	ns=$(tl_netns "$2")
	out=$(al_cni "$1" ADD "cid-$2" "$ns" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=$2" \
		<<<"$(al_netconf "$1" "$3")") || tl_fail "ADD $2: $out"
	AL_POD_NS[$2]=$ns
	AL_POD_IP[$2]=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ips"][0]["address"].split("/")[0])' "$out")
}

# al_tcp_server POD PORT...: a TCP server in the pod on each port, answering
# every connection with the pod's name (policy tests: who answered, or nobody).
al_tcp_server() {
	local p=$1
	shift
	tl_start "srv-$p" "${AL_POD_NS[$p]}" /usr/bin/python3 -c '
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in sys.argv[2:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port))); s.listen(16); sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        c, a = key.fileobj.accept(); c.sendall(sys.argv[1].encode()); c.close()' "$p" "$@"
	tl_wait "$p's server" 20 bash -c "ip netns exec ${AL_POD_NS[$p]} ss -ltn | grep -q ':$1 '"
}
