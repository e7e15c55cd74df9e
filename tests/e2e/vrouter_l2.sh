#!/usr/bin/env bash
# An L2 virtual network across two hosts over VXLAN: pods resolve each other
# with real ARP (broadcast replicated to the other node: ingress replication),
# unicast is bridged by MAC; and the path MTU: a pod sending more than fits
# in the tunnel with DF set gets "fragmentation needed" with the right MTU.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
tl_init
command -v tshark >/dev/null || tl_skip "no tshark"

vl_host h1 0
vl_host h2 1
vl_fabric h1 10.255.0.1 h2 10.255.0.2
declare -A MAC VIF
for spec in "h1 la 10.3.0.1" "h2 lb 10.3.0.2"; do
	set -- $spec
	vl_pod "$1" "$2" 3 "$3/24"
	MAC[$2]=$VL_MAC
	VIF[$2]=$VL_VIF
	vl_do "$1" vr nh add 1 --type encap --vif "$VL_VIF" --vrf 3
	vl_do "$1" vr vni add 3003 --vrf 3
done
for h in h1 h2; do
	peer=h2; [ $h = h2 ] && peer=h1
	local_pod=la; remote_pod=lb
	[ $h = h2 ] && { local_pod=lb; remote_pod=la; }
	vl_do $h vr nh add 2 --type tunnel --vif 0 --vrf 3 --encap vxlan --vni 3003 --l2 \
		--dip "${VL_FABIP[$peer]}" --dmac "${VL_FABMAC[$peer]}"
	vl_do $h vr nh add 3 --type flood --members 1,2          # local pod + the other node
	vl_do $h vr vrf add 3 --l2 --flood-nh 3
	vl_do $h vr bridge add --vrf 3 "${MAC[$local_pod]}" --nh 1
	vl_do $h vr bridge add --vrf 3 "${MAC[$remote_pod]}" --nh 2
done

tl_start tshark "${VL_NS[h2]}" tshark -i fab-h2 -w "$TL_DIR/l2.pcap" -f "udp port 4789" -s 200 -c 200 -q
CAP=$TL_LAST_PID
tl_wait "tshark" 10 test -s "$TL_DIR/l2.pcap"
sleep 1
ip -n "${VL_NS[la]}" neigh flush dev eth0
tl_check "L2: la pings lb across hosts (real ARP, bridged)" vl_pod_in la ping -c 3 -i 0.2 -W 2 10.3.0.2
got=$(vl_pod_in la ip neigh show 10.3.0.2 | awk '{print $5}')
tl_check "L2: la learned lb's own MAC by ARP ($got), not the vrouter's" test "$got" = "${MAC[lb]}"
sleep 1
tl_stop "$CAP"
bcast=$(tshark -r "$TL_DIR/l2.pcap" -Y "vxlan.vni==3003 && arp.opcode==1 && eth.dst==ff:ff:ff:ff:ff:ff" -T fields -e arp.dst.proto_ipv4 2>/dev/null | head -1)
tl_check "L2: the ARP broadcast was replicated to h2 inside VNI 3003 ($bcast)" test "$bcast" = 10.3.0.2

# Path MTU: the pods' MTU is 1400; raise la's to 1500 so a 1472-byte ping with
# DF does not fit in VXLAN (1500 + 50 > 1500): the vrouter answers with ICMP.
vl_do h1 vr vrf add 3 --l2 --l3 --flood-nh 3
vl_do h1 vr nh add 4 --type tunnel --vif 0 --vrf 3 --encap vxlan --vni 3003 --dip 10.255.0.2 --dmac "${VL_FABMAC[h2]}"
vl_do h1 vr route add --vrf 3 10.3.0.2/32 --nh 4
vl_do h1 vr route add --vrf 3 10.3.0.254/32 --nh 1
ip -n "${VL_NS[la]}" link set eth0 mtu 1500
ip -n "${VL_NS[la]}" neigh replace 10.3.0.2 lladdr 00:00:5e:00:01:00 dev eth0
out=$(vl_pod_in la ping -c 1 -W 2 -M do -s 1472 10.3.0.2 2>&1)
echo "$out" | head -3
tl_check "path MTU: the pod is told frag needed, mtu 1450" grep -q "mtu = 1450" <<<"$out"
tl_check "path MTU: the drop is counted as FRAG_NEEDED" bash -c "'$VL_CTL' --socket '$TL_DIR/h1/ctl.sock' vr drop | grep -q FRAG_NEEDED"
exit 0
