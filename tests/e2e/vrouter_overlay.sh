#!/usr/bin/env bash
# Two compute hosts, each with its own tern-vrouter, joined by a fabric veth.
# Two tenants (vrf 1 "red", vrf 2 "blue") use the same subnet 10.1.0.0/24 and
# fd00:1::/64; each has a pod on each host. For MPLSoUDP, MPLSoGRE and VXLAN:
# ping and TCP (iperf3) between pods on different hosts, tshark on the fabric
# checks the encapsulation field by field; tenants never see each other.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
tl_init
for t in iperf3 tshark ping ethtool; do
	command -v $t >/dev/null || tl_skip "no $t on this machine"
done

vl_host h1 0
vl_host h2 1
vl_fabric h1 10.255.0.1 h2 10.255.0.2

# pods: red-a (h1), red-b (h2), blue-a (h1), blue-b (h2)
declare -A VIF MAC
for spec in "h1 reda 1 10.1.0.1 fd00:1::1" "h2 redb 1 10.1.0.2 fd00:1::2" \
	    "h1 bluea 2 10.1.0.1 fd00:1::1" "h2 blueb 2 10.1.0.2 fd00:1::2"; do
	set -- $spec
	vl_pod "$1" "$2" "$3" "$4/24" "$5/64"
	VIF[$2]=$VL_VIF
	MAC[$2]=$VL_MAC
	# the local route: /32 and /128 to an encap nexthop on the pod's vif (nh id = vif id)
	vl_do "$1" vr nh add "$VL_VIF" --type encap --vif "$VL_VIF" --vrf "$3"
	vl_do "$1" vr route add --vrf "$3" "$4/32" --nh "$VL_VIF"
	vl_do "$1" vr route add --vrf "$3" "$5/128" --nh "$VL_VIF"
	# incoming label / VNI for this pod's vrf: label 100+vrf -> the local pod
	vl_do "$1" vr mpls add $((100 + $3)) --nh "$VL_VIF"
	vl_do "$1" vr vni add $((1000 + $3)) --vrf "$3"
done

# tunnel nexthops: 10+vrf on each host towards the other
program_tunnels() {
	local encap=$1 h peer vrf
	for h in h1 h2; do
		peer=h2; [ $h = h2 ] && peer=h1
		for vrf in 1 2; do
			local key="--label $((100 + vrf))"
			[ "$encap" = vxlan ] && key="--vni $((1000 + vrf))"
			vl_do $h vr nh add $((10 + vrf)) --type tunnel --vif 0 --vrf $vrf --encap "$encap" \
				--dip "${VL_FABIP[$peer]}" --dmac "${VL_FABMAC[$peer]}" $key
		done
	done
}
program_tunnels mplsoudp
for vrf in 1 2; do
	vl_do h1 vr route add --vrf $vrf 10.1.0.2/32 --nh $((10 + vrf))
	vl_do h1 vr route add --vrf $vrf fd00:1::2/128 --nh $((10 + vrf))
	vl_do h2 vr route add --vrf $vrf 10.1.0.1/32 --nh $((10 + vrf))
	vl_do h2 vr route add --vrf $vrf fd00:1::1/128 --nh $((10 + vrf))
done

vif_tx() { # host vif -> tx packets
	vl_ctl "$1" vr vif get "$2" -o json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d["tx_pkts"])'
}

capture_start() { # capture_start FILE: on h2's fabric, frames from h1
	tl_start "tshark-$1" "${VL_NS[h2]}" tshark -i fab-h2 -w "$TL_DIR/$1.pcap" -f "src host 10.255.0.1" -s 200 -c 4000 -q
	CAP_PID=$TL_LAST_PID
	tl_wait "tshark to start" 10 test -s "$TL_DIR/$1.pcap"
	sleep 1
}
capture_stop() {
	sleep 1
	tl_stop "$CAP_PID"
}
fields() { # fields FILE FILTER FIELD...
	local f=$1 filter=$2; shift 2
	local args=()
	for x in "$@"; do args+=(-e "$x"); done
	tshark -r "$TL_DIR/$f.pcap" -d udp.port==6635,mpls -Y "$filter" -T fields -E separator=, "${args[@]}" 2>/dev/null
}

for encap in mplsoudp mplsogre vxlan; do
	tl_log "== $encap"
	program_tunnels $encap
	capture_start $encap
	tl_check "$encap: red ping h1 -> h2" vl_pod_in reda ping -c 3 -i 0.2 -W 2 10.1.0.2
	tl_check "$encap: blue ping h2 -> h1" vl_pod_in blueb ping -c 3 -i 0.2 -W 2 10.1.0.1
	tl_check "$encap: red IPv6 ping" vl_pod_in reda ping -6 -c 3 -i 0.2 -W 2 fd00:1::2
	tl_start "iperf-s-$encap" "${VL_NS[redb]}" iperf3 -s -1 -B 10.1.0.2 -p 5201
	sleep 0.5
	tl_check "$encap: red TCP (iperf3, 4 streams)" vl_pod_in reda iperf3 -c 10.1.0.2 -p 5201 -t 2 -P 4 --connect-timeout 3000
	capture_stop

	case $encap in
	mplsoudp)
		out=$(fields $encap "udp.dstport==6635 && icmp" udp.dstport mpls.label mpls.bottom ip.proto | head -1)
		tl_check "mplsoudp: UDP 6635, label 101 (red), bottom of stack, inner ICMP: $out" \
			test "$out" = "6635,101,1,17,1"
		ports=$(fields $encap "udp.dstport==6635 && tcp" udp.srcport | sort -u | wc -l)
		tl_check "mplsoudp: TCP flows use $ports different UDP source ports" test "$ports" -ge 2
		low=$(fields $encap "udp.dstport==6635 && udp.srcport < 49152" udp.srcport | wc -l)
		tl_check "mplsoudp: source ports in 49152-65535" test "$low" -eq 0
		;;
	mplsogre)
		out=$(fields $encap "gre && icmp" ip.proto gre.proto mpls.label mpls.bottom | head -1)
		tl_check "mplsogre: IP proto 47, GRE 0x8847, label 101: $out" test "$out" = "47,1,0x8847,101,1"
		;;
	vxlan)
		out=$(fields $encap "vxlan && icmp" udp.dstport vxlan.vni | head -1)
		tl_check "vxlan: UDP 4789, VNI 1001 (red): $out" test "$out" = "4789,1001"
		# from h1, echo replies are blue's only (red's come from h2)
		out=$(fields $encap "vxlan && icmp.type==0" udp.dstport vxlan.vni | sort -u)
		tl_check "vxlan: blue replies carry VNI 1002: $out" test "$out" = "4789,1002"
		;;
	esac
	n=$(fields $encap "ip.dst==10.255.0.2" frame.number | wc -l)
	notun=$(fields $encap "ip.dst==10.255.0.2 && !mpls && !vxlan" frame.number | wc -l)
	tl_check "$encap: all $n fabric frames are tunnelled" test "$notun" -eq 0 -a "$n" -gt 0
done

# Tenant isolation: red pings reach red's pod only, blue's counters do not move.
before_blue=$(vif_tx h2 "${VIF[blueb]}")
before_red=$(vif_tx h2 "${VIF[redb]}")
vl_pod_in reda ping -c 5 -i 0.1 -W 2 10.1.0.2 >/dev/null || tl_fail "red ping"
after_blue=$(vif_tx h2 "${VIF[blueb]}")
after_red=$(vif_tx h2 "${VIF[redb]}")
tl_check "isolation: red-b got the 5 pings ($before_red -> $after_red)" test $((after_red - before_red)) -ge 5
tl_check "isolation: blue-b got none of them ($before_blue -> $after_blue)" test "$after_blue" -eq "$before_blue"
# A blue pod cannot reach an address only red has.
vl_do h1 vr nh add 30 --type encap --vif "${VIF[reda]}" --vrf 1
vl_do h1 vr route add --vrf 1 10.1.0.77/32 --nh 30
tl_check "isolation: blue cannot reach red-only 10.1.0.77" bash -c "! ip netns exec ${VL_NS[bluea]} ping -c 2 -i 0.2 -W 1 10.1.0.77"
drops=$(vl_ctl h1 vr drop -o json)
tl_check "drop counters show the refused packets (NO_ROUTE or ARP_NOT_ME)" grep -qE '"(NO_ROUTE|ARP_NOT_ME)"' <<<"$drops"
exit 0
