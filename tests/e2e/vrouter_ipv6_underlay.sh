#!/usr/bin/env bash
# IPv6 outside: two hosts whose fabric is IPv6 only; IPv4 and IPv6 pods talk
# over MPLSoUDP, MPLSoGRE and VXLAN carried in IPv6 (tshark checks the outer
# header).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
tl_init
command -v tshark >/dev/null || tl_skip "no tshark"

vl_host h1 0
vl_host h2 1
vl_fabric h1 fd55::1 h2 fd55::2
vl_pod h1 pa 1 10.1.0.1/24 fd00:1::1/64
vl_do h1 vr nh add 1 --type encap --vif "$VL_VIF" --vrf 1
vl_pod h2 pb 1 10.1.0.2/24 fd00:1::2/64
vl_do h2 vr nh add 1 --type encap --vif "$VL_VIF" --vrf 1
for h in h1 h2; do
	me=1; [ $h = h2 ] && me=2
	other=$((3 - me)); peer=h$other
	vl_do $h vr route add --vrf 1 10.1.0.$me/32 --nh 1
	vl_do $h vr route add --vrf 1 fd00:1::$me/128 --nh 1
	vl_do $h vr mpls add 101 --nh 1
	vl_do $h vr vni add 1001 --vrf 1
done
tunnels() { # tunnels ENCAP: (re)program nexthop 10 on both hosts
	local h peer key
	for h in h1 h2; do
		peer=h2; [ $h = h2 ] && peer=h1
		key="--label 101"; [ $1 = vxlan ] && key="--vni 1001"
		vl_do $h vr nh add 10 --type tunnel --vif 0 --vrf 1 --encap $1 \
			--dip "${VL_FABIP[$peer]}" --dmac "${VL_FABMAC[$peer]}" $key
	done
}
tunnels mplsoudp
for h in h1 h2; do
	other=2; [ $h = h2 ] && other=1
	vl_do $h vr route add --vrf 1 10.1.0.$other/32 --nh 10
	vl_do $h vr route add --vrf 1 fd00:1::$other/128 --nh 10
done
for encap in mplsoudp mplsogre vxlan; do
	tunnels $encap
	tl_start "tshark-$encap" "${VL_NS[h2]}" tshark -i fab-h2 -w "$TL_DIR/$encap.pcap" -f "ip6" -s 200 -c 50 -q
	CAP=$TL_LAST_PID
	tl_wait "tshark" 10 test -s "$TL_DIR/$encap.pcap"
	sleep 1
	tl_check "$encap over IPv6: IPv4 ping" vl_pod_in pa ping -c 3 -i 0.2 -W 2 10.1.0.2
	tl_check "$encap over IPv6: IPv6 ping" vl_pod_in pa ping -6 -c 3 -i 0.2 -W 2 fd00:1::2
	sleep 1
	tl_stop "$CAP"
	case $encap in
	mplsoudp) filter="ipv6.nxt==17 && udp.dstport==6635";;
	mplsogre) filter="ipv6.nxt==47 && gre.proto==0x8847";;
	vxlan) filter="ipv6.nxt==17 && udp.dstport==4789 && vxlan.vni==1001";;
	esac
	n=$(tshark -r "$TL_DIR/$encap.pcap" -d udp.port==6635,mpls -Y "$filter && ipv6.src==fd55::1" -T fields -e frame.number 2>/dev/null | wc -l)
	tl_check "$encap: $n frames from h1 in IPv6 ($filter)" test "$n" -ge 6
	bad=$(tshark -r "$TL_DIR/$encap.pcap" -o udp.check_checksum:TRUE -Y "udp.checksum.status==2" -T fields -e frame.number 2>/dev/null | wc -l)
	if [ $encap != mplsogre ]; then
		good=$(tshark -r "$TL_DIR/$encap.pcap" -o udp.check_checksum:TRUE -Y "udp.checksum.status==1 && ipv6.src==fd55::1" -T fields -e frame.number 2>/dev/null | wc -l)
		tl_check "$encap: outer UDP checksums verified good ($good), none bad ($bad)" test "$bad" -eq 0 -a "$good" -ge 6
	fi
done
exit 0
