#!/usr/bin/env bash
# Kernel interfaces through tern's own af_packet rings (`tern-vrouter
# --kernel-io tern`, the default): h1 receives adaptively (the default:
# TPACKET_V2 frames at low rates, TPACKET_V3 blocks at high ones), h2 always
# in blocks (`--kernel-rx blocks`). Ping (IPv4, IPv6) and TCP (iperf3)
# between pods across the MPLSoUDP fabric; the vifs' counters show the
# traffic; h1 switches to blocks under TCP and back once idle, and `ternctl vr
# vif` shows each vif's receive mode and its switches (port_rx); frames the
# node's own stack sends out of a pod's veth are not taken for the pod's;
# frames longer than a packet buffer are counted as rx_bad.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
tl_init
for t in iperf3 ping python3; do
	command -v $t >/dev/null || tl_skip "no $t on this machine"
done

# refused while parsing the options (exit 2), before anything starts
out=$(timeout 10 "$VL_VROUTER" --kernel-io af_packet --kernel-rx-block-ms 1 2>&1)
tl_check "--kernel-rx-block-ms with DPDK's af_packet PMD is refused" test $? -eq 2
tl_check "... saying what it is for" grep -q "kernel-io tern" <<<"$out"
out=$(timeout 10 "$VL_VROUTER" --kernel-io af_packet --kernel-rx frames 2>&1)
tl_check "--kernel-rx with DPDK's af_packet PMD is refused" test $? -eq 2
out=$(timeout 10 "$VL_VROUTER" --kernel-rx sometimes 2>&1)
tl_check "--kernel-rx sometimes is refused" test $? -eq 2
tl_check "... naming the choices" grep -q "adaptive, frames or blocks" <<<"$out"
out=$(timeout 10 "$VL_VROUTER" --kernel-rx-block-ms 0 2>&1)
tl_check "--kernel-rx-block-ms 0 is refused" test $? -eq 2

vl_host h1 0   # the default: tern's af_packet, adaptive
VL_VR_ARGS="--kernel-io tern --kernel-rx blocks --kernel-rx-block-ms 1" vl_host h2 1
vl_fabric h1 10.255.0.1 h2 10.255.0.2
tl_check "h1's fabric vif: tern af_packet, adaptive, made by the control thread" \
	grep -q "vif 0: tern af_packet on fab-h1 (receives frames or blocks by the rate), made by the control thread" \
	"$TL_DIR/vrouter-h1.log"
tl_check "h2's fabric vif: V3 blocks" \
	grep -q "vif 0: tern af_packet on fab-h2 (receives TPACKET_V3 blocks)" "$TL_DIR/vrouter-h2.log"

vl_pod_pair_mplsoudp
VA=$VL_VA
VB=$VL_VB

vif_field() { # HOST VIF FIELD
	vl_ctl "$1" vr vif get "$2" -o json | python3 -c \
		'import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d[sys.argv[1]])' "$3"
}
tl_check "ping a -> b" vl_pod_in a ping -c 3 -i 0.2 -W 2 10.1.0.2
tl_check "IPv6 ping a -> b" vl_pod_in a ping -6 -c 3 -i 0.2 -W 2 fd00:1::2
# idle round trips: V3 blocks (h2) wait for their retire timer (1 ms) at low
# rates, h1 receives frame by frame
rtt=$(vl_pod_in a ping -c 20 -i 0.05 -W 2 10.1.0.2 | sed -n 's|^rtt.* = [^/]*/\([^/]*\)/.*|\1|p')
echo "idle ping a -> b through h1 (adaptive) and h2 (blocks): average $rtt ms"
tl_check "h1 received the pings frame by frame" \
	bash -c "! grep -q 'receiving in blocks' '$TL_DIR/vrouter-h1.log'"
tl_check "a's vif (h1, adaptive) shows rx_mode adaptive:frames, no switch yet" \
	vl_vif_is h1 "$VA" 'd["rx_mode"] == "adaptive:frames" and d["rx_switches"] == 0'
tl_check "... and rx_nombuf + rx_missed + rx_bad = rx_errors, all numbers" vl_vif_is h1 "$VA" "$VL_RX_SUM"
tl_check "b's vif (h2, --kernel-rx blocks) shows rx_mode blocks" \
	vl_vif_is h2 "$VB" 'd["rx_mode"] == "blocks" and d["rx_switches"] == 0'
tl_check "h2's fabric vif too" vl_vif_is h2 0 'd["rx_mode"] == "blocks"'
vl_ctl h1 vr vif list | tee "$TL_DIR/vif-h1.txt"
tl_check "the vif table shows a's receive mode" \
	awk -v v="$VA" '$1 == v && / adaptive:frames / { f = 1 } END { exit !f }' "$TL_DIR/vif-h1.txt"
tl_check "... under its own heading" grep -q "RX mode  *RX nombuf RX missed RX bad RX switches" \
	"$TL_DIR/vif-h1.txt"
tl_start iperf-s "${VL_NS[b]}" iperf3 -s -1 -B 10.1.0.2
sleep 0.5
tl_check "TCP a -> b (iperf3, 2 s)" vl_pod_in a iperf3 -c 10.1.0.2 -t 2 -J
tx=$(vif_field h2 "$VB" tx_pkts)
tl_check "b's vif sent the traffic ($tx packets)" test "$tx" -gt 1000
rx=$(vif_field h1 "$VA" rx_pkts)
tl_check "a's vif received it ($rx packets)" test "$rx" -gt 1000
tl_check "link up on a's vif" test "$(vif_field h1 "$VA" link)" != "0"
tl_check "h1 switched to blocks under TCP" grep -q "receiving in blocks (TPACKET_V3) from" \
	"$TL_DIR/vrouter-h1.log"
sleep 0.3
tl_check "... and back to frames once idle" grep -q "receiving frame by frame (TPACKET_V2) from" \
	"$TL_DIR/vrouter-h1.log"
# every switch a vif's log shows is in its rx_switches (the log line may
# trail the switch: wait for them to agree)
switched=$(grep -o "vif [0-9]*: receiving \(in blocks\|frame by frame\)" "$TL_DIR/vrouter-h1.log" |
	awk '{ print $2 }' | tr -d : | sort -u)
total=0
for v in $switched; do
	n=$(grep -c "vif $v: receiving \(in blocks\|frame by frame\)" "$TL_DIR/vrouter-h1.log")
	total=$((total + n))
	tl_wait "h1 vif $v's rx_switches to be the $n switches its log shows" 5 \
		vl_vif_is h1 "$v" "d['rx_switches'] == $n and d['rx_mode'] == 'adaptive:frames'"
	tl_log "PASS h1 vif $v: rx_switches $n, back to adaptive:frames"
done
tl_check "h1's vifs switched at least twice ($total)" test "$total" -ge 2
vl_ctl h1 vr vif get "$VA" -o json | tee "$TL_DIR/vif-a.json"
tl_check "ping a -> b after the switches" vl_pod_in a ping -c 3 -i 0.2 -W 2 10.1.0.2

# 50 frames from h1's own stack out of a's veth: they go to the pod, the
# vrouter must not receive them as the pod's
before=$(vif_field h1 "$VA" rx_pkts)
ip netns exec "${VL_NS[h1]}" python3 - v-a <<'PY'
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for i in range(50):
    s.send(b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x0c" + b"\x88\xb5" + bytes(50))
PY
sleep 0.3
after=$(vif_field h1 "$VA" rx_pkts)
tl_check "the node's own frames out of a's veth are not the pod's ($before -> $after)" \
	test $((after - before)) -lt 50

# Frames longer than a packet buffer (2,048 bytes): pod a and the host end of
# its veth take 3000-byte frames, the vrouter's buffers do not
bad=$(vif_field h1 "$VA" rx_bad)
ip -n "${VL_NS[h1]}" link set v-a mtu 3000
ip -n "${VL_NS[a]}" link set eth0 mtu 3000
vl_pod_in a ping -c 3 -i 0.2 -W 1 -s 2500 10.1.0.2 >/dev/null
ip -n "${VL_NS[a]}" link set eth0 mtu 1500
ip -n "${VL_NS[h1]}" link set v-a mtu 1500
tl_check "a's 3 frames of 2,542 bytes are counted as rx_bad (was $bad)" \
	vl_vif_is h1 "$VA" "d['rx_bad'] == $bad + 3"
tl_check "... and in rx_errors, as the sum" vl_vif_is h1 "$VA" "$VL_RX_SUM"
switches=$(vif_field h1 "$VA" rx_switches)
vl_do h1 vr vif clear "$VA"
tl_check "vif clear zeroes rx_bad, keeps the $switches switches (a state's history)" \
	vl_vif_is h1 "$VA" "d['rx_bad'] == 0 and d['rx_switches'] == $switches and d['rx_mode'] == 'adaptive:frames'"
exit 0
