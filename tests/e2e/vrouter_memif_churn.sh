#!/usr/bin/env bash
# DPDK pods come and go: a memif peer that disconnects while it floods the
# vrouter must never crash it. DPDK 22.11's memif PMD unmaps the shared rings
# in its interrupt thread while the forwarding core may be reading them
# (vrouter/dpdk/vr_dpdk_guard.c makes that unmap wait for the next forwarding
# round). Here a client floods the vrouter's memif vif and is killed mid-flood,
# again and again, with the vrouter polling and all its threads on one CPU (as
# in a container limited to one core: the interrupt thread then preempts the
# forwarding thread anywhere, also inside a receive burst — without the guard
# the vrouter died within a few cycles); the vrouter stays up and a pod that
# connects afterwards still gets its pings answered through it.
# With tern's own memif server (--memif-io tern, the default) the control
# thread takes the disconnect: it clears the port's connected state and waits
# for the next forwarding round (vrd_guard_wait) before it unmaps; run it with
# TERN_VROUTER_ARGS="--memif-io dpdk" for the PMD.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
tl_init
command -v dpdk-testpmd >/dev/null || tl_skip "no dpdk-testpmd (Debian dpdk-dev)"
CYCLES=${CHURN_CYCLES:-8}

VL_VR_ARGS="--poll" vl_host h1 0
command -v taskset >/dev/null && taskset -a -cp 0 "${VL_PID[h1]}" >/dev/null
vl_pod_routed h1 ka 1 10.1.0.1/24 1
vl_pod_dir dpdk1
pod_dir=$VL_POD_DIR
dmac=02:dd:00:00:00:03
vl_do h1 vr vif add --id 5 --type memif --socket "$pod_dir/memif.sock" --role server --vrf 1 \
	--mac "$dmac" --name dpdk1
vl_do h1 vr nh add 5 --type encap --vif 5 --vrf 1
vl_do h1 vr route add --vrf 1 10.1.0.3/32 --nh 5

pod() { # NAME MODE: a DPDK pod on the memif socket
	tl_start "$1" "" dpdk-testpmd --no-huge -m 128 --no-pci -l 0,1 --file-prefix "${TL}$1" --no-shconf \
		--log-level error \
		"--vdev=net_memif0,role=client,socket=$pod_dir/memif.sock,socket-abstract=no,id=0,mac=$dmac" \
		-- --forward-mode="$2" --auto-start --total-num-mbufs=2048 --stats-period 60
}
link_up() { vl_ctl h1 vr vif get 5 -o json | grep -q '"link": true'; }
rx() { vl_ctl h1 vr vif get 5 -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rx_pkts"])'; }

survived=0
for ((i = 1; i <= CYCLES; i++)); do
	pod "flood$i" txonly
	P=$TL_LAST_PID
	tl_wait "cycle $i: memif link up" 20 link_up
	before=$(rx)
	sleep 0.3
	[ "$(rx)" -gt "$before" ] || tl_log "cycle $i: no packets received during the flood"
	tl_stop "$P" KILL      # mid-flood: the vrouter's interrupt thread disconnects
	if kill -0 "${VL_PID[h1]}" 2>/dev/null; then survived=$((survived + 1)); else break; fi
done
tl_check "the vrouter survived $CYCLES flooding peers killed mid-flood ($survived)" \
	test "$survived" = "$CYCLES"
pod echo icmpecho
tl_wait "memif link with a new pod" 20 link_up
tl_check "a pod connecting afterwards answers pings through the vrouter" \
	vl_pod_in ka ping -c 3 -i 0.2 -W 2 10.1.0.3
exit 0
