# tests/lib/vrlab.sh — building blocks for vrouter end-to-end tests, on top of
# netns.sh: compute hosts (a namespace running its own tern-vrouter), a fabric
# between two hosts, pods (namespaces on veth) attached to a host's vrouter.
#
#   vl_host h1 0                 # namespace ${TL}h1, tern-vrouter --name h1 on lcore 0
#   VL_VR_ARGS="--flows 2048" vl_host h2 1   # with more tern-vrouter options
#   TERN_VROUTER_ARGS="--memif-io tern" (environment): more options for every host
#   vl_fabric h1 10.255.0.1 h2 10.255.0.2   # veth fab-h1 <-> fab-h2, fabric vifs (id 0)
#   vl_pod h1 p1 1 10.1.0.1/24 [fd00:1::1/64]  # pod p1 in vrf 1 on h1; sets VL_VIF, VL_MAC
#   vl_ctl h1 vr route list --vrf 1
#   vl_vif_is h1 1 'd["rx_mode"] == "adaptive:frames"'   # a check on a vif's JSON
BUILD=${BUILD:-build}
VL_VROUTER=$BUILD/vrouter/tern-vrouter
VL_CTL=$BUILD/ctl/ternctl
declare -A VL_NS VL_FABMAC VL_FABIP VL_NEXTVIF VL_PID VL_LCORE VL_ARGS

vl_ctl() {
	local h=$1; shift
	"$VL_CTL" --socket "$TL_DIR/$h/ctl.sock" "$@"
}

# vl_ctl that must succeed, quietly
vl_do() {
	local out
	out=$(vl_ctl "$@" 2>&1) || tl_fail "ternctl $*: $out"
}

# vl_vif_is HOST VIF EXPR: true when the Python expression holds for the vif's
# `ternctl vr vif get -o json` (d), e.g. 'd["rx_mode"] == "blocks"'
vl_vif_is() {
	vl_ctl "$1" vr vif get "$2" -o json | python3 -c \
		'import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; sys.exit(0 if eval(sys.argv[1]) else 1)' "$3"
}
# for vl_vif_is: the vif's port_rx counters are numbers and add up to its rx_errors
VL_RX_SUM='all(type(d[k]) is int for k in ("rx_nombuf", "rx_missed", "rx_bad", "rx_switches")) and d["rx_errors"] == d["rx_nombuf"] + d["rx_missed"] + d["rx_bad"]'

vl_host() {
	local h=$1 lcore=$2
	[ -x "$VL_VROUTER" ] || tl_fail "$VL_VROUTER is not built"
	local ns; ns=$(tl_netns "$h")
	VL_NS[$h]=$ns
	VL_NEXTVIF[$h]=1
	VL_LCORE[$h]=$lcore
	VL_ARGS[$h]=${VL_VR_ARGS:-}   # more tern-vrouter options for this host (e.g. --flows N)
	mkdir -p "$TL_DIR/$h"
	vl_vrouter_start "$h"
}

# (Re)start host h's tern-vrouter (empty tables); VL_PID[h] is its PID.
vl_vrouter_start() {
	local h=$1
	tl_start "vrouter-$h" "${VL_NS[$h]}" "$VL_VROUTER" --name "$TL$h" --run-dir "$TL_DIR/$h" \
		--lcores "${VL_LCORE[$h]}" --mem 512 --mbufs 8192 --fib-tbl8s 4096 --routes 65536 \
		--log-level info ${VL_ARGS[$h]} ${TERN_VROUTER_ARGS:-}
	VL_PID[$h]=$TL_LAST_PID
	tl_wait "vrouter $h control socket" 20 vl_ctl "$h" vr info
}

# Interfaces driven by the vrouter: no kernel addresses, no IPv6 chatter.
vl_quiet_if() {
	local ns=$1 ifname=$2
	ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifname.disable_ipv6=1"
}

vl_fabric() {
	local h1=$1 ip1=$2 h2=$3 ip2=$4
	tl_veth "fab-$h1" "${VL_NS[$h1]}" "fab-$h2" "${VL_NS[$h2]}"
	for pair in "$h1 $ip1" "$h2 $ip2"; do
		set -- $pair
		local ns=${VL_NS[$1]}
		vl_quiet_if "$ns" "fab-$1"
		VL_FABMAC[$1]=$(ip netns exec "$ns" cat "/sys/class/net/fab-$1/address")
		VL_FABIP[$1]=$2
		vl_do "$1" vr vif add --id 0 --type fabric --ifname "fab-$1" --ip "$2" --mac "${VL_FABMAC[$1]}"
	done
}

# vl_pod HOST POD VRF IPV4/PLEN [IPV6/PLEN]: sets VL_VIF (its vif id) and VL_MAC
vl_pod() {
	local h=$1 pod=$2 vrf=$3 ip4=$4 ip6=${5:-}
	local hns=${VL_NS[$h]} pns
	pns=$(tl_netns "$pod")
	VL_NS[$pod]=$pns
	tl_veth eth0 "$pns" "v-$pod" "$hns"
	vl_quiet_if "$hns" "v-$pod"
	ip -n "$pns" link set eth0 mtu 1400
	ip -n "$pns" addr add "$ip4" dev eth0
	[ -n "$ip6" ] && ip -n "$pns" addr add "$ip6" dev eth0 nodad
	# af_packet sees what the pod's stack hands the veth: make it whole packets
	# with real checksums (no offloads to finish later).
	ip netns exec "$pns" ethtool -K eth0 tx off tso off gso off >/dev/null 2>&1
	VL_MAC=$(ip netns exec "$pns" cat /sys/class/net/eth0/address)
	VL_VIF=${VL_NEXTVIF[$h]}
	VL_NEXTVIF[$h]=$((VL_VIF + 1))
	vl_do "$h" vr vif add --id "$VL_VIF" --type kernel --ifname "v-$pod" --vrf "$vrf" --mac "$VL_MAC" --name "$pod"
}

# vl_pod_routed H POD VRF IP/LEN NH: a kernel pod (vl_pod) and, in VRF, an
# encap nexthop NH to its vif and the /32 route to it.
vl_pod_routed() {
	local h=$1 pod=$2 vrf=$3 ip=$4 nh=$5
	vl_pod "$h" "$pod" "$vrf" "$ip"
	vl_do "$h" vr nh add "$nh" --type encap --vif "$VL_VIF" --vrf "$vrf"
	vl_do "$h" vr route add --vrf "$vrf" "${ip%/*}/32" --nh "$nh"
}

# vl_pod_pair_mplsoudp: kernel pods a (10.1.0.1, fd00:1::1) on h1 and b
# (10.1.0.2, fd00:1::2) on h2 in VRF 1, each host's label 101 to its pod and a
# route over MPLSoUDP to the other (after vl_fabric h1 .. h2 ..); their vifs
# in VL_VA, VL_VB.
vl_pod_pair_mplsoudp() {
	vl_pod h1 a 1 10.1.0.1/24 fd00:1::1/64
	VL_VA=$VL_VIF
	vl_pod h2 b 1 10.1.0.2/24 fd00:1::2/64
	VL_VB=$VL_VIF
	local spec
	for spec in "h1 $VL_VA 10.1.0.1 fd00:1::1 h2 10.1.0.2 fd00:1::2" \
		    "h2 $VL_VB 10.1.0.2 fd00:1::2 h1 10.1.0.1 fd00:1::1"; do
		set -- $spec
		vl_do "$1" vr nh add "$2" --type encap --vif "$2" --vrf 1
		vl_do "$1" vr route add --vrf 1 "$3/32" --nh "$2"
		vl_do "$1" vr route add --vrf 1 "$4/128" --nh "$2"
		vl_do "$1" vr mpls add 101 --nh "$2"
		vl_do "$1" vr nh add 11 --type tunnel --vif 0 --vrf 1 --encap mplsoudp \
			--dip "${VL_FABIP[$5]}" --dmac "${VL_FABMAC[$5]}" --label 101
		vl_do "$1" vr route add --vrf 1 "$6/32" --nh 11
		vl_do "$1" vr route add --vrf 1 "$7/128" --nh 11
	done
}

# vl_pod_dir NAME: a DPDK pod's own socket directory (mode 0700), as VL_POD_DIR.
vl_pod_dir() {
	VL_POD_DIR="$TL_DIR/pods/$1"
	mkdir -p "$VL_POD_DIR"
	chmod 0700 "$VL_POD_DIR"
}

vl_pod_in() {
	local pod=$1; shift
	ip netns exec "${VL_NS[$pod]}" "$@"
}
