#!/usr/bin/env bash
# A DPDK pod on memif exchanges packets with kernel pods: the pod is a second
# DPDK process (dpdk-testpmd in icmpecho mode, answering ARP and ping) whose
# memif port connects to the vrouter's memif vif; its socket lives in a
# per-pod directory. A kernel pod on the same host and one on another host
# (MPLSoUDP) ping it. The memif vif shows no receive mode (port_rx).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
source tests/lib/memiflab.sh
tl_init
command -v dpdk-testpmd >/dev/null || tl_skip "no dpdk-testpmd (Debian dpdk-dev)"

# The DPDK pod: its own socket directory, the vrouter is the memif server.
ml_lab server
pod_dir=$ML_POD_DIR
dmac=$ML_DMAC
tl_check "memif socket file created in the pod's directory" test -S "$pod_dir/memif.sock"

tl_start dpdk-pod "" dpdk-testpmd --no-huge -m 256 --no-pci -l 0,1 --file-prefix "${TL}pod" --no-shconf \
	--log-level error \
	"--vdev=net_memif0,role=client,socket=$pod_dir/memif.sock,socket-abstract=no,id=0,mac=$dmac" \
	-- --forward-mode=icmpecho --auto-start --total-num-mbufs=2048 --stats-period 60
tl_wait "memif link between vrouter and DPDK pod" 20 ml_link_up
# ping succeeds with one reply of three: count the replies each got

vl_pod_in ka ping -c 3 -i 0.2 -W 2 10.1.0.3 >"$TL_DIR/ping-ka.out"
tl_check "kernel pod on the same host pings the DPDK pod" test "$(ml_replies "$TL_DIR/ping-ka.out")" -ge 1
vl_pod_in kb ping -c 3 -i 0.2 -W 2 10.1.0.3 >"$TL_DIR/ping-kb.out"
tl_check "kernel pod on another host pings the DPDK pod (MPLSoUDP)" test "$(ml_replies "$TL_DIR/ping-kb.out")" -ge 1
got=$(( $(ml_replies "$TL_DIR/ping-ka.out") + $(ml_replies "$TL_DIR/ping-kb.out") ))
memif_rx() { vl_ctl h1 vr vif get 5 -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rx_pkts"])'; }
memif_rx_all() { [ "$(memif_rx)" -ge "$got" ]; }
tl_wait "the memif vif to count the DPDK pod's $got replies" 5 memif_rx_all
tl_check "the memif vif has no receive mode (not a kernel vif): no rx_mode in its JSON" \
	vl_vif_is h1 5 '"rx_mode" not in d and d["rx_switches"] == 0'
tl_check "... its port_rx counters are numbers adding up to rx_errors" vl_vif_is h1 5 "$VL_RX_SUM"
tl_check "... and ternctl shows its RX mode as -" grep -q "^RX mode: *-$" <(vl_ctl h1 vr vif get 5)

# A second DPDK pod on vhost-user: the vrouter is the vhost-user server, the pod
# a virtio-user client (as a VM or a DPDK container would be).
vl_pod_dir dpdk2
pod2_dir=$VL_POD_DIR
vmac=02:dd:00:00:00:04
vl_do h1 vr vif add --id 6 --type vhost --socket "$pod2_dir/vhost.sock" --vrf 1 --mac "$vmac" --name dpdk2
tl_check "vhost-user socket created in the pod's directory" test -S "$pod2_dir/vhost.sock"
vl_do h1 vr nh add 6 --type encap --vif 6 --vrf 1
vl_do h1 vr route add --vrf 1 10.1.0.4/32 --nh 6
vl_do h1 vr mpls add 106 --nh 6
vl_do h2 vr nh add 12 --type tunnel --vif 0 --vrf 1 --encap mplsoudp --dip 10.255.0.1 --dmac "${VL_FABMAC[h1]}" --label 106
vl_do h2 vr route add --vrf 1 10.1.0.4/32 --nh 12
tl_start dpdk-pod2 "" dpdk-testpmd --no-huge -m 256 --no-pci -l 0,1 --file-prefix "${TL}pod2" --no-shconf \
	--log-level error "--vdev=net_virtio_user0,path=$pod2_dir/vhost.sock,queues=1,mac=$vmac" \
	-- --forward-mode=icmpecho --auto-start --total-num-mbufs=2048 --stats-period 60
POD2=$TL_LAST_PID
vhost_up() { vl_ctl h1 vr vif get 6 -o json | grep -q '"link": true'; }
tl_wait "vhost-user link between vrouter and DPDK pod" 20 vhost_up
# The link comes up before the guest has posted its receive buffers: wait for an answer.
tl_wait "the vhost-user pod to answer" 15 vl_pod_in kb ping -c 1 -W 1 10.1.0.4
vl_pod_in kb ping -c 3 -i 0.2 -W 2 10.1.0.4
tl_check "kernel pod on another host pings the vhost-user DPDK pod (MPLSoUDP)" test $? = 0
tl_stop "$POD2"
vl_do h1 vr route del --vrf 1 10.1.0.4/32
vl_do h1 vr mpls del 106
vl_do h1 vr nh del 6
vl_do h1 vr vif del 6

# Removing the vif at run time: the pod loses its link, the vrouter keeps going.
vl_do h1 vr route del --vrf 1 10.1.0.3/32
vl_do h1 vr mpls del 105
vl_do h1 vr nh del 5
vl_do h1 vr vif del 5
tl_check "vif removed at run time; socket gone" bash -c "! test -S $pod_dir/memif.sock"
tl_check "the vrouter still forwards kernel pods after the removal" vl_pod_in ka ping -c 2 -i 0.2 -W 2 10.1.0.2

# A stale socket file (its listener died, as after a vrouter crash) is replaced.
/usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1]); s.close()' \
	"$pod_dir/memif.sock"
vl_do h1 vr vif add --id 5 --type memif --socket "$pod_dir/memif.sock" --role server --vrf 1 --mac "$dmac" --name dpdk1
tl_check "a stale memif socket is replaced by a new vif's (it accepts)" /usr/bin/python3 -c \
	'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1])' \
	"$pod_dir/memif.sock"
vl_do h1 vr vif del 5
exit 0
