#!/usr/bin/env bash
# Kernel interfaces through AF_XDP (`tern-vrouter --kernel-io af_xdp`, and
# `auto`, which takes AF_XDP where it attaches): two hosts whose fabric and pod
# veths the vrouters drive with the af_xdp PMD instead of af_packet. Ping (IPv4, IPv6) and TCP (iperf3) between pods across
# the MPLSoUDP fabric; the vifs' counters show the traffic went through them.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
tl_init
for t in iperf3 ping; do
	command -v $t >/dev/null || tl_skip "no $t on this machine"
done

VL_VR_ARGS="--kernel-io af_xdp" vl_host h1 0
VL_VR_ARGS="--kernel-io auto" vl_host h2 1   # auto: AF_XDP where it attaches
vl_fabric h1 10.255.0.1 h2 10.255.0.2
tl_check "h1's fabric vif is an AF_XDP port" grep -q "vif 0: port net_af_xdp_v0" "$TL_DIR/vrouter-h1.log"
# ports are probed and started by the control thread, not the forwarding core
tl_check "the port was made by the control thread" \
	grep -q "vif 0: port net_af_xdp_v0 .*made by the control thread" "$TL_DIR/vrouter-h1.log"

vl_pod_pair_mplsoudp
VA=$VL_VA
VB=$VL_VB

tl_check "h2's pod vif is an AF_XDP port" grep -q "vif $VB: port net_af_xdp_v$VB" "$TL_DIR/vrouter-h2.log"
tl_check "ping a -> b over AF_XDP ports" vl_pod_in a ping -c 3 -i 0.2 -W 2 10.1.0.2
tl_check "IPv6 ping a -> b" vl_pod_in a ping -6 -c 3 -i 0.2 -W 2 fd00:1::2
tl_start iperf-s "${VL_NS[b]}" iperf3 -s -1 -B 10.1.0.2
sleep 0.5
tl_check "TCP a -> b (iperf3, 2 s)" vl_pod_in a iperf3 -c 10.1.0.2 -t 2 -J
rx=$(vl_ctl h2 vr vif get "$VB" -o json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d["tx_pkts"])')
tl_check "b's vif sent the traffic ($rx packets)" test "$rx" -gt 1000
exit 0
