#!/usr/bin/env bash
# The host vif (vhost0, a TAP with the fabric's MAC): the node's kernel keeps
# its underlay connectivity through the vrouter, and reaches pods over the
# overlay, on its own host and on another one; pods reach the node.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
tl_init
command -v ping >/dev/null || tl_skip "no ping"

vl_host h1 0
vl_host h2 1
vl_fabric h1 10.255.0.1 h2 10.255.0.2
for h in h1 h2; do
	vl_do $h vr vif add --id 9 --type host --ifname vhost0 --mac "${VL_FABMAC[$h]}" --vrf 0
	ns=${VL_NS[$h]}
	ip -n "$ns" addr add "${VL_FABIP[$h]}/24" dev vhost0
	ip -n "$ns" link set vhost0 up
	ip -n "$ns" route add 10.1.0.0/24 dev vhost0
	vl_do $h vr nh add 3 --type receive
done
tl_check "vhost0 is a TAP with the fabric's MAC" \
	test "$(ip netns exec "${VL_NS[h1]}" cat /sys/class/net/vhost0/address)" = "${VL_FABMAC[h1]}"
tl_check "underlay: node h1 pings node h2 through both vrouters" \
	ip netns exec "${VL_NS[h1]}" ping -c 3 -i 0.2 -W 2 10.255.0.2

# a pod on h1 with the gateway 10.1.0.254 (answered by the vrouter's proxy)
vl_pod h1 pa 1 10.1.0.1/24
ip -n "${VL_NS[pa]}" route add default via 10.1.0.254
vl_do h1 vr nh add 2 --type encap --vif "$VL_VIF" --vrf 1
vl_do h1 vr route add --vrf 1 10.1.0.1/32 --nh 2
vl_do h1 vr route add --vrf 1 10.1.0.254/32 --nh 3
vl_do h1 vr route add --vrf 1 10.255.0.1/32 --nh 3          # pod -> its node
vl_do h1 vr route add --vrf 0 10.1.0.1/32 --nh 2            # node -> pod
vl_do h1 vr mpls add 102 --nh 2
vl_do h1 vr nh add 10 --type tunnel --vif 0 --vrf 1 --encap mplsoudp --dip 10.255.0.2 --dmac "${VL_FABMAC[h2]}" --label 103
vl_do h1 vr route add --vrf 1 10.255.0.2/32 --nh 10         # pod -> the other node
vl_do h2 vr mpls add 103 --nh 3
vl_do h2 vr nh add 10 --type tunnel --vif 0 --vrf 0 --encap mplsoudp --dip 10.255.0.1 --dmac "${VL_FABMAC[h1]}" --label 102
vl_do h2 vr route add --vrf 0 10.1.0.1/32 --nh 10           # other node -> pod

tl_check "node h1 pings its pod over vhost0" ip netns exec "${VL_NS[h1]}" ping -c 3 -i 0.2 -W 2 10.1.0.1
tl_check "pod pings its node" vl_pod_in pa ping -c 3 -i 0.2 -W 2 10.255.0.1
tl_check "node h2 pings the pod on h1 over MPLSoUDP" ip netns exec "${VL_NS[h2]}" ping -c 3 -i 0.2 -W 2 10.1.0.1
tl_check "pod pings the other node over MPLSoUDP" vl_pod_in pa ping -c 3 -i 0.2 -W 2 10.255.0.2
exit 0
