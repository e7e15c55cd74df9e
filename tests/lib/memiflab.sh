# tests/lib/memiflab.sh — the lab of the memif e2e tests (source after
# vrlab.sh): hosts h1 and h2 joined by a fabric; kernel pods ka (h1,
# 10.1.0.1) and kb (h2, 10.1.0.2) in VRF 1; a DPDK pod's memif vif 5 on h1
# (10.1.0.3, MAC ML_DMAC, its socket ML_SOCK in the pod's own directory
# ML_POD_DIR); MPLSoUDP tunnels between the hosts for all three.

ML_DMAC=02:dd:00:00:00:03

# ml_lab ROLE [H1-OPTIONS]: ROLE is the vrouter's side of the memif vif
# (server or client); H1-OPTIONS more tern-vrouter options for h1.
ml_lab() {
	local role=$1
	VL_VR_ARGS=${2:-} vl_host h1 0
	vl_host h2 1
	vl_fabric h1 10.255.0.1 h2 10.255.0.2
	vl_pod_routed h1 ka 1 10.1.0.1/24 1
	vl_pod_routed h2 kb 1 10.1.0.2/24 1
	vl_do h2 vr mpls add 100 --nh 1
	vl_pod_dir dpdk1
	ML_POD_DIR=$VL_POD_DIR
	ML_SOCK=$ML_POD_DIR/memif.sock
	vl_do h1 vr vif add --id 5 --type memif --socket "$ML_SOCK" --role "$role" --vrf 1 \
		--mac "$ML_DMAC" --name dpdk1
	vl_do h1 vr nh add 5 --type encap --vif 5 --vrf 1
	vl_do h1 vr route add --vrf 1 10.1.0.3/32 --nh 5
	vl_do h1 vr mpls add 105 --nh 5
	vl_do h1 vr nh add 10 --type tunnel --vif 0 --vrf 1 --encap mplsoudp --dip 10.255.0.2 \
		--dmac "${VL_FABMAC[h2]}" --label 100
	vl_do h1 vr route add --vrf 1 10.1.0.2/32 --nh 10
	vl_do h2 vr nh add 10 --type tunnel --vif 0 --vrf 1 --encap mplsoudp --dip 10.255.0.1 \
		--dmac "${VL_FABMAC[h1]}" --label 105
	vl_do h2 vr route add --vrf 1 10.1.0.3/32 --nh 10
	vl_do h2 vr nh add 11 --type tunnel --vif 0 --vrf 1 --encap mplsoudp --dip 10.255.0.1 \
		--dmac "${VL_FABMAC[h1]}" --label 101
	vl_do h2 vr route add --vrf 1 10.1.0.1/32 --nh 11
	vl_do h1 vr mpls add 101 --nh 1
}

# ml_link_up: the memif vif on h1 has its link.
ml_link_up() { vl_ctl h1 vr vif get 5 -o json | grep -q '"link": true'; }

# ml_replies FILE: how many replies a ping's output counts.
ml_replies() { sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p' "$1"; }
