# bench/vrouter_ovs.sh — sourced by bench/vrouter.sh: the vxlan-encap case,
# tern-vrouter against Open vSwitch with DPDK doing the same job: a packet
# from the pod's memif port is routed (MACs rewritten, TTL decremented) into a
# VXLAN tunnel (VNI 5001, 192.0.2.1 -> 192.0.2.2) that leaves by the fabric
# port. OVS's userspace tunnelling: br-int holds the pod port and the vxlan
# port; br-phy holds the fabric port and the tunnel's source address.
#
# OVS-DPDK needs hugepages (it always adds --in-memory, which --no-huge
# refuses; ../shared/MACHINE.md §2): this case reserves them, mounts its own
# hugetlbfs, and gives both back at exit. The daemons run in the bench's
# namespace, in the foreground, so they are stopped by PID.

OVS_VSWITCHD=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
OVS_HUGEPAGES=320    # 2 MiB pages: 512 MiB socket memory + slack

ovs_vsctl() { ovs-vsctl --db="unix:$OVS_DIR/db.sock" --timeout=20 "$@"; }
ovs_appctl() { ovs-appctl -t "$OVS_DIR/ovs-vswitchd.ctl" --timeout=20 "$@"; }

# Reserve hugepages on top of what is there, and mount a hugetlbfs of our own,
# once per bench run (OVS, and every forwarder in zero-copy memif runs). Sets
# OVS_WHY and returns 1 when that is not possible. (Not in a subshell: the
# undo steps must reach the exit trap.)
HUGE_RESERVED=
bench_hugepages() {
	[ -z "$HUGE_RESERVED" ] || return 0
	local f=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
	[ -w "$f" ] || { OVS_WHY="no 2 MiB hugepage support ($f)"; return 1; }
	local before want got
	before=$(cat "$f")
	want=$((before + OVS_HUGEPAGES))
	echo "$want" >"$f" 2>/dev/null
	got=$(cat "$f")
	bl_undo "echo $before > $f"
	if [ "$got" -lt "$want" ]; then
		OVS_WHY="could reserve only $((got - before)) of $OVS_HUGEPAGES 2 MiB hugepages"
		return 1
	fi
	mkdir -p "$BL_DIR/huge"
	mount -t hugetlbfs -o pagesize=2M nodev "$BL_DIR/huge" 2>/dev/null ||
		{ OVS_WHY="cannot mount hugetlbfs on $BL_DIR/huge"; return 1; }
	bl_undo "umount $BL_DIR/huge"
	HUGE_RESERVED=1
}

# hugepages_free N: at least N 2 MiB pages free, reserving more if needed
# (given back at exit with the rest).
hugepages_free() {
	local hp=/sys/kernel/mm/hugepages/hugepages-2048kB free
	free=$(cat "$hp/free_hugepages")
	[ "$free" -ge "$1" ] || echo $(( $(cat "$hp/nr_hugepages") + $1 - free )) >"$hp/nr_hugepages" 2>/dev/null
}

# The database, once per case; its configuration outlives vswitchd restarts.
ovs_db_start() {
	OVS_DIR=$BL_DIR/ovs
	mkdir -p "$OVS_DIR"
	export OVS_RUNDIR=$OVS_DIR OVS_DBDIR=$OVS_DIR OVS_LOGDIR=$OVS_DIR
	ovsdb-tool create "$OVS_DIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema >/dev/null ||
		{ OVS_WHY="ovsdb-tool create failed"; return 1; }
	bl_start ovsdb "$NS" ovsdb-server --remote="punix:$OVS_DIR/db.sock" \
		--remote=db:Open_vSwitch,Open_vSwitch,manager_options --pidfile="$OVS_DIR/ovsdb-server.pid" \
		--unixctl="$OVS_DIR/ovsdb-server.ctl" --log-file="$OVS_DIR/ovsdb-server.log" "$OVS_DIR/conf.db"
	OVSDB_PID=$BL_PID
	bl_wait "ovsdb-server" 20 ovs_vsctl --no-wait show || { OVS_WHY="ovsdb-server did not start (see $OVS_DIR/ovsdb-server.log)"; return 1; }
	ovs_vsctl --no-wait init
	# (single-file segments: what the memif PMD's zero-copy client needs)
	ovs_vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true \
		"other_config:dpdk-extra=--no-pci --huge-dir $BL_DIR/huge --file-prefix ${BL}o --single-file-segments" \
		other_config:dpdk-socket-mem=512 other_config:dpdk-socket-limit=512 \
		"other_config:dpdk-lcore-mask=0x$(printf '%x' $((1 << GEN_LCORE)))" \
		"other_config:pmd-cpu-mask=0x$(printf '%x' $((1 << FWD_LCORE)))"
}

# Hugepages and the database, once per bench run (several cases use OVS).
OVS_PREPARED=
ovs_prepare() {
	[ -z "$OVS_PREPARED" ] || return "$OVS_PREPARED"
	OVS_PREPARED=1
	OVS_WHY=
	bench_hugepages || return 1
	ovs_db_start >/dev/null 2>&1 || { OVS_WHY="OVS: $OVS_WHY"; return 1; }
	OVS_PREPARED=0
}

# vswitchd, with the bridges and flows; sets OVS_PID and OVS_PMD_TID.
ovs_start() {
	# A vswitchd that exited may leave its memif socket file: a new bind fails.
	[ -n "$MEMIF_ZC" ] || rm -f "$BL_DIR/ovs-pod.sock" "$BL_DIR/fab.sock"
	# Other processes on the machine (a tern-vrouter with --huge auto) may have
	# taken the pages reserved at the start: top up (given back at exit).
	hugepages_free "$OVS_HUGEPAGES"
	# The bridges outlive vswitchd in the database; made again when the memif
	# mode (the ports' devargs) changed: gone before vswitchd would attach them.
	if [ -n "${OVS_BRIDGES:-}" ] && [ "$OVS_BRIDGES" != "$MEMIF_MODE" ]; then
		ovs_vsctl --no-wait --if-exists del-br br-int -- --if-exists del-br br-phy || return 1
	fi
	bl_start ovs-vswitchd "$NS" "$OVS_VSWITCHD" "unix:$OVS_DIR/db.sock" \
		--pidfile="$OVS_DIR/ovs-vswitchd.pid" --unixctl="$OVS_DIR/ovs-vswitchd.ctl" \
		--log-file="$OVS_DIR/ovs-vswitchd.log"
	OVS_PID=$BL_PID
	bl_wait "ovs-vswitchd" 60 ovs_appctl version || return 1
	if [ "${OVS_BRIDGES:-}" != "$MEMIF_MODE" ]; then
		ovs_vsctl add-br br-int -- set bridge br-int datapath_type=netdev \
			-- add-port br-int pM -- set Interface pM type=dpdk \
				"options:dpdk-devargs=$(pod_vdev_fwd "$BL_DIR/ovs-pod.sock")" \
			-- add-port br-int vx -- set Interface vx type=vxlan options:remote_ip="$PEER_IP" \
				options:local_ip="$FAB_IP" options:key="$VNI" \
			-- add-br br-phy -- set bridge br-phy datapath_type=netdev \
				other-config:hwaddr="$FAB_MAC" \
			-- add-port br-phy pF -- set Interface pF type=dpdk \
				"options:dpdk-devargs=$(fabric_vdev_fwd)" ||
			return 1
		OVS_BRIDGES=$MEMIF_MODE
	fi
	bl_wait "OVS ports pM and pF" 30 sh -c "[ \"\$(ovs-vsctl --db=unix:$OVS_DIR/db.sock get Interface pF ofport)\" -gt 0 ] &&
		[ \"\$(ovs-vsctl --db=unix:$OVS_DIR/db.sock get Interface pM ofport)\" -gt 0 ]" || return 1
	# The tunnel's underlay: br-phy's address, a static neighbour for the remote node.
	ip -n "$NS" addr replace "$FAB_IP/24" dev br-phy && ip -n "$NS" link set br-phy up || return 1
	ovs_appctl tnl/arp/set br-phy "$PEER_IP" "$SINK_MAC" >/dev/null || return 1
	ovs-ofctl del-flows br-int
	ovs-ofctl add-flow br-int "in_port=pM,ip,nw_dst=$REMOTE_IP,actions=mod_dl_src:$ROUTER_MAC,mod_dl_dst:$REMOTE_MAC,dec_ttl,output:vx" ||
		return 1
	local t
	OVS_PMD_TID=
	for t in /proc/"$OVS_PID"/task/*; do
		case $(cat "$t/comm" 2>/dev/null) in pmd*) OVS_PMD_TID=$(basename "$t") ;; esac
	done
	[ -n "$OVS_PMD_TID" ] || { bl_log "OVS: no PMD thread"; return 1; }
}

ovs_stop() {
	[ -n "${OVS_PID:-}" ] || return 0
	ovs_appctl exit >/dev/null 2>&1
	bl_stop "$OVS_PID" TERM
	OVS_PID=
}

run_ovs() {
	local line busy
	if [ -n "$MEMIF_ZC" ]; then # the generator is the memif server: it goes first
		# shellcheck disable=SC2046
		gen_start pktgen-ovs --vdev="$(pod_vdev_gen "$BL_DIR/ovs-pod.sock")" --vdev="$(fabric_vdev_gen)" -- \
			$(traffic_args vxlan-encap) --rx-queues 2 || { gen_result pktgen-ovs; return 1; }
	fi
	ovs_start || { BL_KEEP=1; bl_log "OVS did not start (see $OVS_DIR/ovs-vswitchd.log)"; ovs_stop
		gen_result pktgen-ovs; return 1; }
	ovs_appctl dpif-netdev/pmd-stats-clear >/dev/null
	if [ -n "$MEMIF_ZC" ]; then
		gen_watch "$OVS_PMD_TID"
		gen_result pktgen-ovs; line=$GEN_LINE
	else
		# shellcheck disable=SC2046
		line=$(pktgen pktgen-ovs --vdev="$(pod_vdev_gen "$BL_DIR/ovs-pod.sock")" \
			--vdev="$(fabric_vdev_gen)" -- $(traffic_args vxlan-encap) --watch-tid "$OVS_PMD_TID" \
			--rx-queues 2) # OVS transmits from its PMD on the port's second queue
	fi
	# OVS's own count: TSC cycles of PMD iterations that processed packets.
	busy=$(ovs_appctl dpif-netdev/pmd-stats-show | sed -n 's/.*avg processing cycles per packet: *\([0-9.]*\).*/\1/p' | head -1)
	if [ "${BENCH_OVS_DEBUG:-0}" = 1 ]; then
		{ ovs_appctl dpctl/dump-flows; ovs_appctl ovs/route/show; ovs_appctl tnl/arp/show
		  ovs_vsctl get interface pF link_state; ovs_vsctl get interface pM link_state; ovs_vsctl get interface pF statistics
		  ovs-ofctl dump-flows br-int; ovs-ofctl dump-ports br-phy; ovs-ofctl dump-ports br-int; } >&2
	fi
	ovs_stop
	result ovs "$line" "$busy"
}

case_ovs() {
	local i
	if [ ! -x "$OVS_VSWITCHD" ] || ! command -v ovsdb-server >/dev/null; then
		echo "bench vrouter.vxlan-encap: skipped (Open vSwitch with DPDK is not installed: apt-get install openvswitch-switch-dpdk)"
		return 0
	fi
	ovs_prepare || { echo "bench vrouter.vxlan-encap: skipped ($OVS_WHY)"; return 0; }
	memif_mode || return 1
	for ((i = 1; i <= REPS; i++)); do
		bl_log "vxlan-encap: run $i/$REPS"
		run_tern_memif vxlan-encap vxlan
		run_ovs
	done
	summary "$(mode_case vxlan-encap)" ovs " fabric=$FABRIC memif=$MEMIF_MODE${BENCH_HUGE:+ pages=2M}"
	MEMIF_ZC=
}
