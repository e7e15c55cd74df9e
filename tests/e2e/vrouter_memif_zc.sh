#!/usr/bin/env bash
# tern-vrouter as a zero-copy memif client (--memif-zero-copy): a trusted DPDK
# pod (dpdk-testpmd in icmpecho mode) is the memif server; the vrouter's vif
# connects to its socket and lends it the vrouter's own packet buffers. The
# vif waits for a server that is not there yet, kernel pods on the same host
# and on another host (MPLSoUDP) ping the DPDK pod through it, the pod
# restarts and the vif connects again by itself, and every buffer lent comes
# back (the vif's counters and the vrouter keep going).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
source tests/lib/memiflab.sh
tl_init
command -v dpdk-testpmd >/dev/null || tl_skip "no dpdk-testpmd (Debian dpdk-dev)"

# The vif before the pod's server: it waits for it.
ml_lab client --memif-zero-copy
pod_dir=$ML_POD_DIR
dmac=$ML_DMAC
tl_check "the vrouter says its packet buffers are shared" \
	grep -q "of shared memory (zero-copy memif" "$TL_DIR/vrouter-h1.log"
tl_check "the vif logs that it waits for the pod's server" \
	grep -q "vif 5: no memif server on $pod_dir/memif.sock yet" "$TL_DIR/vrouter-h1.log"
link_up() { ml_link_up; }
if link_up; then up=yes; else up=no; fi
tl_check "no link while there is no server" test "$up" = no

pod_start() {
	rm -f "$pod_dir/memif.sock"
	tl_start "dpdk-pod-$1" "" dpdk-testpmd --no-huge -m 256 --no-pci -l 0,1 --file-prefix "${TL}zpod" \
		--no-shconf --log-level error \
		"--vdev=net_memif0,role=server,socket=$pod_dir/memif.sock,socket-abstract=no,id=0,mac=$dmac" \
		-- --forward-mode=icmpecho --auto-start --total-num-mbufs=2048 --stats-period 60
	POD=$TL_LAST_PID
}

pings() { # round: both kernel pods ping the DPDK pod
	vl_pod_in ka ping -c 5 -i 0.2 -W 2 10.1.0.3 >"$TL_DIR/ping-ka-$1.out"
	tl_check "$1: a kernel pod on the same host pings the zero-copy DPDK pod" \
		test "$(ml_replies "$TL_DIR/ping-ka-$1.out")" -ge 3
	vl_pod_in kb ping -c 5 -i 0.2 -W 2 10.1.0.3 >"$TL_DIR/ping-kb-$1.out"
	tl_check "$1: a kernel pod on another host pings it (MPLSoUDP)" \
		test "$(ml_replies "$TL_DIR/ping-kb-$1.out")" -ge 3
}

pod_start 1
tl_wait "the vif to connect to the pod's memif server" 20 link_up
tl_check "the vrouter logs the zero-copy connection" \
	grep -q "vif 5: connected to memif server .* (zero-copy" "$TL_DIR/vrouter-h1.log"
pings first

# The pod goes away: the vif loses its link, takes its buffers back, and
# connects again when a new pod serves the same socket.
tl_stop "$POD"
link_down() { ! link_up; }
tl_wait "the vif to see the pod go" 10 link_down
pod_start 2
tl_wait "the vif to connect again by itself" 20 link_up
pings again
vif_counter() { vl_ctl h1 vr vif get 5 -o json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
tl_check "the vif counted what it received and sent (no errors)" \
	test "$(vif_counter rx_pkts)" -ge 12 -a "$(vif_counter tx_pkts)" -ge 12 -a "$(vif_counter rx_errors)" = 0

# Removing the vif at run time: the pod loses its link, the vrouter keeps going.
vl_do h1 vr route del --vrf 1 10.1.0.3/32
vl_do h1 vr mpls del 105
vl_do h1 vr nh del 5
vl_do h1 vr vif del 5
tl_check "the vrouter still forwards kernel pods after the removal" vl_pod_in ka ping -c 2 -i 0.2 -W 2 10.1.0.2
tl_stop "$POD"

# Bad set-ups are refused with a reason.
out=$("$VL_VROUTER" --memif-zero-copy --memif-io dpdk 2>&1)
tl_check "--memif-zero-copy with the PMD is refused, saying why" grep -q "does not go with --memif-io dpdk" <<<"$out"
exit 0
