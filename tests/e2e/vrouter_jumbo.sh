#!/usr/bin/env bash
# Jumbo frames: two hosts whose fabric has a 9000-byte MTU, tern-vrouter with
# --mbuf-size 9216, pods with an 8900-byte MTU. Checks: an 8,872-byte ping
# with DF crosses MPLSoUDP whole (one outer packet of 8,932 bytes on the
# fabric, seen by tshark); a ping too large for the tunnel gets
# "fragmentation needed" with the tunnel's MTU (8,968); a vrouter with the
# default buffers refuses an MTU its buffers cannot hold, saying which option
# to give, and keeps the vif it had.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
tl_init
command -v tshark >/dev/null || tl_skip "no tshark"

VL_VR_ARGS="--mbuf-size 9216" vl_host h1 0
VL_VR_ARGS="--mbuf-size 9216" vl_host h2 1
vl_fabric h1 10.255.0.1 h2 10.255.0.2
for h in h1 h2; do
	ip -n "${VL_NS[$h]}" link set "fab-$h" mtu 9000
	vl_do $h vr vif add --id 0 --type fabric --ifname "fab-$h" --ip "${VL_FABIP[$h]}" \
		--mac "${VL_FABMAC[$h]}" --mtu 9000
done
declare -A VIF
for spec in "h1 ja 10.9.0.1" "h2 jb 10.9.0.2"; do
	set -- $spec
	vl_pod "$1" "$2" 9 "$3/24"
	VIF[$2]=$VL_VIF
	ip -n "${VL_NS[$1]}" link set "v-$2" mtu 8900
	ip -n "${VL_NS[$2]}" link set eth0 mtu 8900
	vl_do "$1" vr vif add --id "$VL_VIF" --type kernel --ifname "v-$2" --vrf 9 --mac "$VL_MAC" \
		--name "$2" --mtu 8900
	vl_do "$1" vr nh add 1 --type encap --vif "$VL_VIF" --vrf 9
	vl_do "$1" vr route add --vrf 9 "$3/32" --nh 1
	vl_do "$1" vr mpls add 109 --nh 1
done
vl_do h1 vr nh add 2 --type tunnel --vif 0 --vrf 9 --encap mplsoudp --label 109 \
	--dip 10.255.0.2 --dmac "${VL_FABMAC[h2]}"
vl_do h1 vr route add --vrf 9 10.9.0.2/32 --nh 2
vl_do h2 vr nh add 2 --type tunnel --vif 0 --vrf 9 --encap mplsoudp --label 109 \
	--dip 10.255.0.1 --dmac "${VL_FABMAC[h1]}"
vl_do h2 vr route add --vrf 9 10.9.0.1/32 --nh 2

tl_start tshark "${VL_NS[h2]}" tshark -i fab-h2 -w "$TL_DIR/jumbo.pcap" -f "udp port 6635" -c 50 -q
CAP=$TL_LAST_PID
tl_wait "tshark" 10 test -s "$TL_DIR/jumbo.pcap"
sleep 1
# 8872 bytes of ICMP data: an 8,900-byte IP packet, the pod's whole MTU.
tl_check "jumbo: an 8,900-byte packet with DF crosses MPLSoUDP and comes back" \
	vl_pod_in ja ping -c 3 -i 0.2 -W 2 -M do -s 8872 10.9.0.2
sleep 1
tl_stop "$CAP"
# outer IP = 8900 + MPLS 4 + UDP 8 + IP 20 = 8932 bytes, one packet (no fragments)
lens=$(tshark -r "$TL_DIR/jumbo.pcap" -Y "mpls.label==109 && icmp" -T fields -e ip.len -e ip.flags.mf 2>/dev/null |
	awk -F'\t' '{ split($1, l, ","); split($2, m, ","); print l[1] "/" m[1] }' | sort -u | tr '\n' ' ')
echo "outer IP length/more-fragments: $lens"
tl_check "jumbo: whole on the fabric, outer IP 8,932 bytes, never fragmented ($lens)" \
	test "$lens" = "8932/0 "

# The tunnel's MTU is 9000 - 32 = 8968 bytes of inner packet: 8,969 with DF does not fit.
ip -n "${VL_NS[ja]}" link set eth0 mtu 9000
ip -n "${VL_NS[h1]}" link set v-ja mtu 9000
vl_do h1 vr vif add --id "${VIF[ja]}" --type kernel --ifname v-ja --vrf 9 --mac \
	"$(ip netns exec "${VL_NS[ja]}" cat /sys/class/net/eth0/address)" --name ja --mtu 9000
out=$(vl_pod_in ja ping -c 1 -W 2 -M do -s 8941 10.9.0.2 2>&1)
echo "$out" | head -3
tl_check "jumbo: too large for the tunnel: frag needed, mtu 8968" grep -q "mtu = 8968" <<<"$out"

# A vrouter with default buffers (2,048 bytes) takes no 9000-byte MTU.
vl_host h3 0
vl_pod h3 jc 9 10.9.0.3/24
out=$(vl_ctl h3 vr vif add --id "$VL_VIF" --type kernel --ifname v-jc --vrf 9 --mac "$VL_MAC" \
	--name jc --mtu 9000 2>&1)
rc=$?
echo "$out"
tl_check "default buffers: mtu 9000 refused" test "$rc" -ne 0
tl_check "default buffers: the error names --mbuf-size" grep -q -- "--mbuf-size" <<<"$out"
tl_check "default buffers: the vif stays as it was (mtu 1500)" \
	bash -c "'$VL_CTL' --socket '$TL_DIR/h3/ctl.sock' vr vif get $VL_VIF -o json | grep -q '\"mtu\": *1500'"
exit 0
