#!/usr/bin/env bash
# bench/vrouter.sh — the vrouter benchmarks (bench/run vrouter). Cases:
#   mplsoudp-encap, mplsoudp-decap   tern-vrouter vs dpdk-testpmd io-forward, same ports
#   vxlan-encap                      tern-vrouter vs OVS-DPDK doing the same VXLAN encap
#   kernel-vxlan                     tern-vrouter on veth (af_packet) vs the Linux kernel
#   pipeline                         the core alone: ns/packet and instructions/packet
#   flow-setup, policy-overhead, flow-mem   flows and policy (issue 7; bench/vrouter_flow.sh):
#                                    new flows/s vs OVS-DPDK conntrack, policy on vs off,
#                                    bytes per connection vs OVS
# One line per case on stdout; progress on stderr. Method: docs/PERFORMANCE.md.
#
# Environment: BENCH_MEMIF (memif modes, default "copy zero-copy"; see the
# memif cases below), BENCH_REPS (runs per forwarder, default 5), BENCH_WARMUP and
# BENCH_DURATION (seconds per run, default 2 and 3), BENCH_CASES (subset, e.g.
# "pipeline kernel-vxlan"), BENCH_KEEP=1 keeps the logs, BENCH_PROFILE=1
# records tern's forwarding thread (perf record -e cpu-clock) in every run and
# prints the top of the profile to stderr. Experiments: TERN_POLL= starts
# tern-vrouter without --poll; KERNEL_TERN_RPS=2 moves the kernel's delivery
# to tern's af_packet ring (kernel-vxlan) onto the forwarder's core;
# BENCH_HUGE=1 puts the copy-mode forwarders (tern, testpmd) on 2 MiB
# hugepages, as a node with hugepages runs them (default: 4 KiB pages, like
# the generator; the lines then say pages=2M).
set -u
cd "$(dirname "$0")/.."
source bench/lib.sh

BUILD=${BUILD:-build}
VR=$BUILD/vrouter/tern-vrouter
CTL=$BUILD/ctl/ternctl
PKTGEN=$BUILD/bench/tern-pktgen
PIPE=$BUILD/bench/vr_pipeline_bench
REPS=${BENCH_REPS:-5}
WARMUP=${BENCH_WARMUP:-2}
DURATION=${BENCH_DURATION:-3}
CASES=${BENCH_CASES:-"mplsoudp-encap mplsoudp-decap vxlan-encap kernel-vxlan pipeline flow-setup policy-overhead flow-mem"}

GEN_LCORE=0          # the generator's core
FWD_LCORE=1          # the forwarder's core (tern, testpmd, OVS's PMD thread, the kernel via RPS)
FLOWS=256
ROUTER_MAC=00:00:5e:00:01:00   # tern's default MAC for routed traffic
POD_MAC=02:00:00:00:01:01
REMOTE_MAC=02:00:00:00:01:02   # the remote pod's MAC (kernel case: neighbour on the VXLAN device)
FAB_IP=192.0.2.1
PEER_IP=192.0.2.2
POD_IP=10.1.0.1
REMOTE_IP=10.1.0.2
LABEL_OUT=100        # pushed towards the remote node
LABEL_IN=200         # ours: to the local pod
VNI=5001

for f in "$VR" "$CTL" "$PKTGEN" "$PIPE"; do
	[ -x "$f" ] || bl_die "$f is not built (make build)"
done
[ "$(nproc)" -ge 2 ] || bl_die "needs 2 cores (generator and forwarder)"
bl_init
# The binaries as they are now: a rebuild of $BUILD during the run (the build
# directory is shared) must not change what later runs measure.
mkdir -p "$BL_DIR/bin"
cp "$VR" "$CTL" "$PKTGEN" "$PIPE" "$BL_DIR/bin/" || bl_die "cannot copy the binaries to $BL_DIR/bin"
bl_log "binaries: $(stat -c '%n %y' "$VR" | cut -c1-80)"
VR=$BL_DIR/bin/tern-vrouter CTL=$BL_DIR/bin/ternctl PKTGEN=$BL_DIR/bin/tern-pktgen PIPE=$BL_DIR/bin/vr_pipeline_bench

# --- helpers -----------------------------------------------------------------

kv() { # kv "LINE" KEY: the value of KEY=... in LINE
	sed -n "s/.*[ :]$2=\([^ ]*\).*/\1/p" <<<"$1" | head -1
}

# profile_start TID NAME / profile_stop: perf on the forwarding thread (BENCH_PROFILE=1).
PERF_PID=
profile_start() {
	[ "${BENCH_PROFILE:-0}" = 1 ] && command -v perf >/dev/null || return 0
	bl_start "perf-$2" "" perf record -q -e cpu-clock -t "$1" -o "$BL_DIR/perf-$2.data"
	PERF_PID=$BL_PID
}
profile_stop() {
	[ -n "$PERF_PID" ] || return 0
	bl_stop "$PERF_PID" INT
	PERF_PID=
	perf report -i "$BL_DIR/perf-$1.data" --stdio --sort symbol 2>/dev/null | grep -v '^#' | grep . |
		head -15 | sed "s/^/  profile $1: /" >&2
}

ctl() { "$CTL" --socket "$BL_DIR/vr/ctl.sock" "$@"; }
ctl_do() { # quietly, or say what failed
	local out
	out=$(ctl "$@" 2>&1) || { bl_log "ternctl $*: $out"; return 1; }
}

mac_of() { ip netns exec "$1" cat "/sys/class/net/$2/address"; }

# Receive processing of a veth on core $3 (RPS): keeps the kernel's share of
# moving packets off the other core and identical for every forwarder.
rps() { ip netns exec "$1" sh -c "echo $3 > /sys/class/net/$2/queues/rx-0/rps_cpus"; }

# The forwarding thread of a DPDK process: the one named rte-worker-N, or the
# main thread when the process forwards on its main lcore (tern-vrouter).
dpdk_worker_tid() {
	local pid=$1 t
	for t in /proc/"$pid"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "rte-worker-$FWD_LCORE" ] && { basename "$t"; return 0; }
	done
	return 1
}

# listening PATH...: a process in $NS listens on each UNIX socket path given
# (af_packet fabric: no socket file is made, so a path that is not there and
# not needed is passed over by the caller).
listening() {
	local ls p
	ls=$(ip netns exec "$NS" ss -xl 2>/dev/null) || return 1
	for p in "$@"; do
		[ "$FABRIC" != memif ] && [ "${p##*/}" = fab.sock ] && continue
		grep -qF " $p " <<<"$ls" || return 1
	done
}

# pktgen_argv EAL-VDEVS -- ARGS: the generator's command line in PKTGEN_ARGV.
pktgen_argv() {
	local eal=()
	while [ "$1" != -- ]; do eal+=("$1"); shift; done
	shift
	PKTGEN_ARGV=("$PKTGEN" -l "$GEN_LCORE" --no-huge -m 256 --no-pci --no-shconf
		--file-prefix "${BL}g" --log-level error "${eal[@]}" --
		--flows "$FLOWS" --warmup "$WARMUP" --duration "$DURATION" "$@")
}

# pktgen NAME EAL-VDEVS -- ARGS: one measured run; prints its result line.
# (--relink: a memif client that connected while the server's interface was
# not registered yet is refused and never retries by itself.)
pktgen() {
	local name=$1; shift
	pktgen_argv "$@" --relink 2
	timeout 120 ip netns exec "$NS" "${PKTGEN_ARGV[@]}" 2>"$BL_DIR/$name.log" | grep '^pktgen:'
}

# Runs with a zero-copy port: the generator (that port's memif server) first,
# in the background;
# the forwarder's thread id goes to $BL_DIR/watch.tid once it is known.
# gen_start NAME EAL-VDEVS -- ARGS (sets GEN_PID) / gen_result NAME: its line.
GEN_PID=
gen_start() {
	local name=$1; shift
	rm -f "$BL_DIR/watch.tid" "$BL_DIR/pod.sock" "$BL_DIR/ovs-pod.sock" "$BL_DIR/fab.sock"
	pktgen_argv "$@" --link-timeout 60 --watch-tid-file "$BL_DIR/watch.tid" --relink 2
	bl_start "$name" "$NS" timeout 120 "${PKTGEN_ARGV[@]}"
	GEN_PID=$BL_PID
	local socks=() v
	for v in "${PKTGEN_ARGV[@]}"; do
		[[ $v == *role=server,socket=* ]] && socks+=("$(sed 's/.*socket=\([^,]*\).*/\1/' <<<"$v")")
	done
	bl_wait "the generator's memif sockets" 30 listening "${socks[@]}"
}
gen_watch() { echo "$1" >"$BL_DIR/watch.tid"; }
# (not in a subshell: wait needs the shell that started it) Sets GEN_LINE.
gen_result() {
	GEN_LINE=
	[ -n "$GEN_PID" ] || return 0
	wait "$GEN_PID" 2>/dev/null
	bl_stop "$GEN_PID"
	GEN_PID=
	GEN_LINE=$(grep '^pktgen:' "$BL_DIR/$1.log")
}

# result FWD LINE [BUSY_CPP]: per-run numbers from a pktgen line, appended to
# the arrays R_<fwd>, C_<fwd>, S_<fwd> (rate Mpps, cycles/packet, saturated 0/1).
# cycles/packet = the forwarder's CPU time (thread, or the core for the kernel)
# in TSC cycles over the packets that came back.
declare -A R C S T I
result() {
	local fwd=$1 line=$2 busy=${3:-}
	local rcvd sent good full rate cpu tsc cpp sat
	rcvd=$(kv "$line" rcvd); sent=$(kv "$line" sent); good=$(kv "$line" good)
	full=$(kv "$line" tx_full); rate=$(kv "$line" rx_mpps); tsc=$(kv "$line" tsc_hz)
	cpu=$(kv "$line" fwd_cpu_ns)
	[ "$(kv "$line" cpu_busy_ns)" != 0 ] && cpu=$(kv "$line" cpu_busy_ns)
	if [ -z "$rcvd" ] || [ "$rcvd" = 0 ]; then
		BL_KEEP=1
		bl_log "$fwd: no result (pktgen said: ${line:-nothing}; logs in $BL_DIR)"
		return 1
	fi
	if [ "$good" -lt $(( rcvd * 99 / 100 )) ]; then
		bl_log "$fwd: only $good of $rcvd received packets have the expected encapsulation"
		return 1
	fi
	cpp=$(awk -v c="$cpu" -v h="$tsc" -v n="$rcvd" 'BEGIN { printf "%.0f", c * h / 1e9 / n }')
	T[$fwd]="${T[$fwd]:-} $cpp"
	I[$fwd]="${I[$fwd]:-} $(awk -v c="$(kv "$line" gen_core_irq_ns)" -v h="$tsc" -v n="$rcvd" \
		'BEGIN { printf "%.0f", c * h / 1e9 / n }')"
	# A peer's own busy-cycle count excludes its empty polls: better than CPU time.
	# (Only a positive number: a peer that died before printing its count falls back.)
	if awk -v b="$busy" 'BEGIN { exit !(b + 0 > 0) }'; then cpp=$(printf '%.0f' "$busy"); fi
	# Saturated: the forwarder refused >1% of what the generator offered (its
	# memif input ring was full), or >3% of what was sent never came back (an
	# af_packet input drops in the kernel instead): the forwarder, not the
	# generator, set the rate.
	sat=$(awk -v f="$full" -v s="$sent" -v r="$rcvd" \
		'BEGIN { print (f > 0.01 * (f + s) || r < 0.97 * s) ? 1 : 0 }')
	R[$fwd]="${R[$fwd]:-} $rate"
	C[$fwd]="${C[$fwd]:-} $cpp"
	S[$fwd]="${S[$fwd]:-} $sat"
	bl_log "  $fwd: ${rate} Mpps, ${cpp} cycles/pkt (from CPU time: ${T[$fwd]##* }), sent $(kv "$line" tx_mpps) Mpps, forwarder saturated=$sat"
}

# mostly_saturated FWD: the forwarder set the pace in more than half its runs.
mostly_saturated() {
	local n s
	n=$(wc -w <<<"${S[$1]:-}")
	s=$(tr ' ' '\n' <<<"${S[$1]:-}" | grep -c 1)
	[ "$s" -gt $(( n / 2 )) ]
}

# pick_basis PEER TERN_MPPS PEER_MPPS TERN_CPP PEER_CPP: sets basis and ratio.
# A rate ratio compares the forwarders only when both set their own pace;
# when either ran at the generator's pace, that run measured the generator's
# minute (this machine's speed moves by up to 2x between minutes), so the
# capacities (cycles per packet) are compared instead.
pick_basis() {
	if mostly_saturated tern && mostly_saturated "$1"; then
		basis=rate; ratio=$(bl_div "$2" "$3")
	else
		basis=capacity; ratio=$(bl_div "$5" "$4")
	fi
}

# summary CASE TERN PEER: the case's one line from the medians.
summary() {
	local case=$1 peer=$2 extra=${3:-}
	# shellcheck disable=SC2086
	local tr pr tc pc trs prs basis ratio
	tr=$(bl_median ${R[tern]:-}); pr=$(bl_median ${R[$peer]:-})
	tc=$(bl_median ${C[tern]:-}); pc=$(bl_median ${C[$peer]:-})
	trs=$(bl_spread ${R[tern]:-}); prs=$(bl_spread ${R[$peer]:-})
	pick_basis "$peer" "$tr" "$pr" "$tc" "$pc"
	echo "bench vrouter.$case: tern=$tr $peer=$pr ratio=$ratio tern_cpp=$tc ${peer}_cpp=$pc" \
		"cap_ratio=$(bl_div "$pc" "$tc") basis=$basis tern_cputime_cpp=$(bl_median ${T[tern]:-}) ${peer}_cputime_cpp=$(bl_median ${T[$peer]:-})" \
		"spread_mpps=tern:$trs,$peer:$prs runs=tern:$(wc -w <<<"${R[tern]:-}"),$peer:$(wc -w <<<"${R[$peer]:-}")$extra"
	unset R C S T I
	declare -gA R C S T I
}

# --- memif cases ----------------------------------------------------------------
# mplsoudp-encap, mplsoudp-decap and vxlan-encap run in each mode of
# BENCH_MEMIF (default "copy zero-copy"; fabric-zero-copy on request):
#  copy: the forwarders (tern-vrouter, testpmd, OVS) are the memif servers and
#    copy every packet into and out of the buffers the generator's side shares
#    (tern's default for pods: a pod sees only its own buffers);
#  zero-copy (lines <case>-zc): the forwarders are memif clients sharing their
#    own packet buffers (tern: --memif-zero-copy; testpmd and OVS: the PMD's
#    zero-copy=yes, hugepages in single-file segments); the generator is the
#    server and does the copies on its core. It starts first then (DPDK's
#    client does not retry a socket that is not there yet).
#  fabric-zero-copy (lines <case>-fzc): the pod port copies as in copy mode,
#    the fabric port is a zero-copy client as in zero-copy mode: a deployment's
#    shape, where the pod is a tenant's and the fabric a NIC that reads and
#    writes the forwarder's buffers itself. Every forwarder gets the same ports.
#    The generator starts first (server of the fabric; its pod client is
#    restarted until the forwarder listens: --relink). Not in the default:
#    both forwarders cost more here than in copy mode, and their costs drift
#    by up to 1.5x between minutes (docs/PERFORMANCE.md, session 21).
MEMIF_MODES=${BENCH_MEMIF:-copy zero-copy}
for m in $MEMIF_MODES; do
	case $m in copy|zero-copy|fabric-zero-copy) ;;
	*) bl_die "BENCH_MEMIF takes copy, zero-copy, fabric-zero-copy, or several" ;; esac
done
MEMIF_MODE=copy
for_memif_modes() { # CMD...: once per mode of BENCH_MEMIF
	local rc=0
	for MEMIF_MODE in $MEMIF_MODES; do "$@" || rc=1; done
	MEMIF_MODE=copy
	return $rc
}
mode_case() {
	case $MEMIF_MODE in
	zero-copy) echo "$1-zc" ;;
	fabric-zero-copy) echo "$1-fzc" ;;
	*) echo "$1" ;;
	esac
}
MEMIF_ZC=            # set while a case runs a zero-copy port (the generator starts first)
# fwd_role pod|fab / gen_role pod|fab: each side's memif role on that port.
fwd_role() {
	if [ -z "$MEMIF_ZC" ] || { [ "$MEMIF_MODE" = fabric-zero-copy ] && [ "$1" = pod ]; }; then
		echo server
	else
		echo client
	fi
}
gen_role() { if [ "$(fwd_role "$1")" = server ]; then echo client; else echo server; fi; }
# memif_vdev N SOCKET ROLE [zc]: a DPDK memif vdev, a zero-copy client when
# zc is given and the case runs zero-copy. DPDK 22.11's PMD closes the EAL's
# memory file once its first zero-copy port connects, so a second zero-copy
# port in the process passes a closed fd and never connects: the PMD
# forwarders (testpmd, OVS) get zero-copy on their pod port only in zero-copy
# mode, on their fabric port only in fabric-zero-copy mode.
memif_vdev() {
	local zc=
	[ "$3" = client ] && [ -n "$MEMIF_ZC" ] && [ -n "${4:-}" ] && zc=,zero-copy=yes
	echo "net_memif$1,role=$3,socket=$2,socket-abstract=no,id=0$zc"
}

# The fabric port: memif if the vrouter accepts a fabric vif on a memif socket
# (pure user space, as the issue asks); otherwise af_packet on a veth pair in
# the bench's namespace, for tern and its peer alike.
FABRIC=
fabric_vdev_fwd() { # the forwarder's fabric vdev (testpmd, OVS)
	if [ "$FABRIC" = memif ]; then
		memif_vdev 1 "$BL_DIR/fab.sock" "$(fwd_role fab)" \
			"$([ "$MEMIF_MODE" = fabric-zero-copy ] && echo zc)"
	else
		echo "net_af_packet1,iface=fab-fw,qpairs=1,qdisc_bypass=1"
	fi
}
fabric_vdev_gen() { # pktgen's side
	if [ "$FABRIC" = memif ]; then
		memif_vdev 1 "$BL_DIR/fab.sock" "$(gen_role fab)"
	else
		echo "net_af_packet1,iface=fab-gen,qpairs=1,qdisc_bypass=1"
	fi
}
pod_vdev_gen() { memif_vdev 0 "${1:-$BL_DIR/pod.sock}" "$(gen_role pod)"; }
pod_vdev_fwd() { memif_vdev 0 "${1:-$BL_DIR/pod.sock}" "$(fwd_role pod)" \
	"$([ "$MEMIF_MODE" = zero-copy ] && echo zc)"; }

FAB_IF=fab-fw       # the forwarder's fabric interface, when it is af_packet
memif_setup() {
	NS=$(bl_netns mem)
	bl_veth fab-fw "$NS" fab-gen "$NS"
	# The kernel's part of receiving (veth -> af_packet ring) on the generator's
	# core, like a NIC's DMA: on the forwarder's core it would run in
	# ksoftirqd, fighting the busy-polling forwarder for the core.
	rps "$NS" fab-fw 1
	rps "$NS" fab-gen 1
	FAB_MAC=$(mac_of "$NS" fab-fw)
	SINK_MAC=$(mac_of "$NS" fab-gen)
}

# tern_start ENCAP [pod-vif-args...]: tern-vrouter in $NS, programmed for ENCAP.
# TERN_ARGS: more tern-vrouter options (a later --mem wins); TERN_HOOK: a
# command run once the control socket answers, before any vif is added.
VR_PID=
tern_start() {
	local encap=$1 podvif=$2
	rm -rf "$BL_DIR/vr"
	mkdir -p "$BL_DIR/vr"
	local zc=(--huge no)
	if [ -n "${BENCH_HUGE:-}" ]; then
		zc=(--huge yes)
		bench_hugepages || { bl_log "BENCH_HUGE: $OVS_WHY"; return 1; }
		hugepages_free 300
	fi
	# zero-copy: tern's memif client, its packet buffers in hugepages as the peers'
	if [ -n "$MEMIF_ZC" ]; then
		zc=(--huge yes --memif-zero-copy)
		hugepages_free 300 # 512 MB for the EAL, ~40 MB of packet buffers
	fi
	bl_start vrouter "$NS" "$VR" --name "$BL" --run-dir "$BL_DIR/vr" --lcores "$FWD_LCORE" ${TERN_POLL---poll} \
		"${zc[@]}" --mem 512 --mbufs 16384 --vrfs 16 --routes 1024 --fib-tbl8s 1024 --log-level warn \
		${TERN_ARGS:-}
	VR_PID=$BL_PID
	bl_wait "the vrouter's control socket" 30 ctl vr info || return 1
	# a case's own set-up before the vifs (e.g. the policy a vif names)
	if [ -n "${TERN_HOOK:-}" ]; then $TERN_HOOK || return 1; fi
	if [ "$FABRIC" = memif ]; then
		# chosen once: a failure now is this run's, never a silent switch to af_packet
		ctl_do vr vif add --id 0 --type fabric --socket "$BL_DIR/fab.sock" --role "$(fwd_role fab)" \
			--ip "$FAB_IP" --mac "$FAB_MAC" || return 1
	elif [ -z "$FABRIC" ]; then
		if ctl vr vif add --id 0 --type fabric --socket "$BL_DIR/fab.sock" --role server \
			--ip "$FAB_IP" --mac "$FAB_MAC" >/dev/null 2>&1; then
			FABRIC=memif
		else
			FABRIC=afpacket
		fi
		[ -n "${FABRIC_SAID:-}" ] || bl_log "fabric port: $FABRIC"
		FABRIC_SAID=1
	fi
	if [ "$FABRIC" = afpacket ]; then
		ctl_do vr vif add --id 0 --type fabric --ifname "$FAB_IF" --ip "$FAB_IP" --mac "$FAB_MAC" || return 1
	fi
	ctl_do vr vif add --id 1 $podvif --vrf 1 --mac "$POD_MAC" --name pod || return 1
	ctl_do vr nh add 1 --type encap --vif 1 --vrf 1 || return 1
	ctl_do vr route add --vrf 1 "$POD_IP/32" --nh 1 || return 1
	ctl_do vr mpls add "$LABEL_IN" --nh 1 || return 1
	local key="--label $LABEL_OUT"
	[ "$encap" = vxlan ] && key="--vni $VNI"
	ctl_do vr nh add 10 --type tunnel --vif 0 --vrf 1 --encap "$encap" --dip "$PEER_IP" \
		--dmac "$SINK_MAC" $key || return 1
	ctl_do vr route add --vrf 1 "$REMOTE_IP/32" --nh 10 || return 1
}

# tern's own busy cycles per packet (vr info: TSC cycles of loop rounds that
# moved packets / packets they received; warm-up included, also under load).
tern_busy() {
	ctl vr info -o json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
try: d = json.load(sys.stdin)
except ValueError: d = {}   # the vrouter did not answer
print("%.1f" % (d["busy_cycles"] / d["busy_pkts"]) if d.get("busy_pkts") else "")'
}

tern_stop() {
	if [ -n "$VR_PID" ] && ! kill -0 "$VR_PID" 2>/dev/null; then
		# it died during the run: keep its log (the next start overwrites vrouter.log)
		local keep; keep="$BL_DIR/vrouter-died-$(date +%H%M%S).log"
		cp "$BL_DIR/vrouter.log" "$keep"
		wait "$VR_PID" 2>/dev/null
		bl_log "tern-vrouter exited during the run (status $?); its log: $keep"
		BL_KEEP=1
	fi
	[ -n "$VR_PID" ] && bl_stop "$VR_PID" TERM
	VR_PID=
}

# Arguments of pktgen for a case's traffic (after the EAL part).
traffic_args() {
	case $1 in
	mplsoudp-encap) echo "--tx-port 0 --rx-port 1 --payload udp --expect mplsoudp --dmac $ROUTER_MAC" \
		"--smac $POD_MAC --src $POD_IP --dst $REMOTE_IP" ;;
	vxlan-encap) echo "--tx-port 0 --rx-port 1 --payload udp --expect vxlan --dmac $ROUTER_MAC" \
		"--smac $POD_MAC --src $POD_IP --dst $REMOTE_IP" ;;
	mplsoudp-decap) echo "--tx-port 1 --rx-port 0 --payload mplsoudp --expect udp --dmac $FAB_MAC" \
		"--smac $SINK_MAC --src $REMOTE_IP --dst $POD_IP --outer-src $PEER_IP --outer-dst $FAB_IP" \
		"--label $LABEL_IN" ;;
	esac
}

run_tern_memif() { # CASE ENCAP
	local case=$1 encap=$2 line
	if [ -n "$MEMIF_ZC" ]; then
		# shellcheck disable=SC2046
		gen_start "pktgen-tern-$case" --vdev="$(pod_vdev_gen)" --vdev="$(fabric_vdev_gen)" -- \
			$(traffic_args "$case") || { gen_result "pktgen-tern-$case"; return 1; }
	fi
	tern_start "$encap" "--type memif --socket $BL_DIR/pod.sock --role $(fwd_role pod)" ||
		{ tern_stop; gen_result "pktgen-tern-$case"; return 1; }
	profile_start "$VR_PID" "tern-$case"
	if [ -n "$MEMIF_ZC" ]; then
		gen_watch "$VR_PID"
		gen_result "pktgen-tern-$case"; line=$GEN_LINE
	else
		# shellcheck disable=SC2046
		line=$(pktgen "pktgen-tern-$case" --vdev="$(pod_vdev_gen)" --vdev="$(fabric_vdev_gen)" -- \
			$(traffic_args "$case") --watch-tid "$VR_PID")
	fi
	profile_stop "tern-$case"
	local busy; busy=$(tern_busy)
	tern_stop
	result tern "$line" "$busy"
}

run_testpmd() { # CASE
	local case=$1 line pid tid busy mem=(--no-huge --no-shconf)
	if [ -n "${BENCH_HUGE:-}" ]; then
		mem=(--in-memory)
		bench_hugepages || { bl_log "BENCH_HUGE: $OVS_WHY"; return 1; }
		hugepages_free 300
	fi
	if [ -n "$MEMIF_ZC" ]; then
		mem=(--in-memory --single-file-segments) # zero-copy: buffers in hugepage files
		# shellcheck disable=SC2046
		gen_start "pktgen-testpmd-$case" --vdev="$(pod_vdev_gen)" --vdev="$(fabric_vdev_gen)" -- \
			$(traffic_args "$case" | sed 's/--expect [a-z]*/--expect any/') ||
			{ gen_result "pktgen-testpmd-$case"; return 1; }
	else
		rm -f "$BL_DIR/pod.sock" "$BL_DIR/fab.sock" # a previous forwarder's: a memif server cannot bind over it
	fi
	bl_start "testpmd-$case" "$NS" dpdk-testpmd -l "$GEN_LCORE,$FWD_LCORE" "${mem[@]}" -m 512 --no-pci \
		--file-prefix "${BL}t" --log-level error \
		--vdev="$(pod_vdev_fwd)" --vdev="$(fabric_vdev_fwd)" -- \
		--forward-mode=io --auto-start --record-core-cycles --total-num-mbufs=16384 \
		--stats-period 3600
	pid=$BL_PID
	if ! bl_wait "testpmd's forwarding thread" 30 dpdk_worker_tid "$pid"; then
		bl_stop "$pid"
		BL_KEEP=1
		bl_log "testpmd did not start its forwarding thread; the end of its log ($BL_DIR/testpmd-$case.log):"
		tail -5 "$BL_DIR/testpmd-$case.log" | sed 's/^/    /' >&2
		gen_result "pktgen-testpmd-$case"
		return 1
	fi
	tid=$(dpdk_worker_tid "$pid")
	if [ -n "$MEMIF_ZC" ]; then
		gen_watch "$tid"
		gen_result "pktgen-testpmd-$case"; line=$GEN_LINE
	else
		# (EAL starts its worker threads before it probes the vdevs: the memif
		# listeners may come a moment after the thread; a client that finds no
		# listener never retries, and its link stays down)
		if ! bl_wait "testpmd's memif sockets" 30 listening "$BL_DIR/pod.sock" "$BL_DIR/fab.sock"; then
			bl_stop "$pid"
			BL_KEEP=1
			return 1
		fi
		# shellcheck disable=SC2046
		line=$(pktgen "pktgen-testpmd-$case" --vdev="$(pod_vdev_gen)" --vdev="$(fabric_vdev_gen)" -- \
			$(traffic_args "$case" | sed 's/--expect [a-z]*/--expect any/') --watch-tid "$tid")
	fi
	bl_stop "$pid" INT   # SIGINT: testpmd prints its forwarding stats on the way out
	busy=$(testpmd_busy "$BL_DIR/testpmd-$case.log")
	result testpmd "$line" "$busy"
}

# testpmd's busy cycles per packet (--record-core-cycles: TSC cycles of
# iterations that received packets). It divides by packets received, which its
# memif server port counts as sent ("CPU cycles/packet=INF", the two memif
# counters are swapped); io forwarding sends what it receives, so divide by the
# larger of the two.
testpmd_busy() {
	awk '/Accumulated forward statistics/ { acc = 1 }
	     acc && /RX-packets:/ { rx = $2 }
	     acc && /TX-packets:/ { tx = $2 > rx ? $2 : rx; acc = 0 }
	     /CPU cycles\/packet=/ { match($0, /total cycles=[0-9]+/); cyc = substr($0, RSTART + 13, RLENGTH - 13) }
	     END { if (cyc != "" && tx > 0) printf "%.0f\n", cyc / tx }' "$1"
}

case_memif_testpmd() { # CASE ENCAP
	local case=$1 encap=$2 i
	memif_mode || return 1
	for ((i = 1; i <= REPS; i++)); do
		bl_log "$case: run $i/$REPS"
		run_tern_memif "$case" "$encap"
		run_testpmd "$case"
	done
	# shellcheck disable=SC2086
	summary "$(mode_case "$case")" testpmd " fabric=$FABRIC memif=$MEMIF_MODE${BENCH_HUGE:+ pages=2M}"
	MEMIF_ZC=
}

# A memif case in BENCH_MEMIF's mode; zero-copy needs hugepages and a memif fabric.
memif_mode() {
	MEMIF_ZC=
	[ "$MEMIF_MODE" != copy ] || return 0
	bench_hugepages || { bl_log "BENCH_MEMIF=zero-copy: $OVS_WHY"; return 1; }
	FABRIC=memif
	MEMIF_ZC=1
}

# --- vxlan-encap vs OVS-DPDK -------------------------------------------------

. bench/vrouter_ovs.sh
. bench/vrouter_flow.sh

# --- kernel-vxlan: veth + af_packet vs the kernel's VXLAN device ---------------
# Namespaces: gen (tern-pktgen on kg-pod and kg-fab) and fwd (the forwarder on
# kr-pod and kr-fab). Receive processing (RPS) of kr-pod: for the kernel it is
# the forwarding itself, so on the forwarder's core; for tern it is the port's
# job (filling the af_packet ring, a NIC's DMA), so on the generator's core,
# as in the memif cases. The sink's kg-fab: on the generator's core for both.

kernel_setup() {
	KG=$(bl_netns kgen)
	KR=$(bl_netns kfwd)
	bl_veth kg-pod "$KG" kr-pod "$KR"
	bl_veth kg-fab "$KG" kr-fab "$KR"
	rps "$KR" kr-fab 1
	rps "$KG" kg-pod 1
	rps "$KG" kg-fab 1
	KR_POD_MAC=$(mac_of "$KR" kr-pod)
	KR_FAB_MAC=$(mac_of "$KR" kr-fab)
	KG_POD_MAC=$(mac_of "$KG" kg-pod)
	# The sink's frames are addressed to no interface's MAC: the kernel of the
	# generator's namespace then drops them at once (other host) after the
	# generator's af_packet socket has them, instead of routing each to an
	# ip_error (16 % of the generator's core in a profile, in both forwarders'
	# runs: the generator's core sets both rates here).
	KG_SINK_MAC=02:00:00:00:03:01
	# af_packet hands the vrouter whole frames only without offloads.
	for i in kr-pod kr-fab; do ip netns exec "$KR" ethtool -K "$i" tx off tso off gso off gro off >/dev/null 2>&1; done
	for i in kg-pod kg-fab; do ip netns exec "$KG" ethtool -K "$i" tx off tso off gso off gro off >/dev/null 2>&1; done
}

kernel_pktgen() { # NAME DMAC WATCH-ARGS...
	local name=$1 dmac=$2; shift 2
	NS=$KG pktgen "$name" --vdev=net_af_packet0,iface=kg-pod,qpairs=1,qdisc_bypass=1 \
		--vdev=net_af_packet1,iface=kg-fab,qpairs=1,qdisc_bypass=1 -- \
		--tx-port 0 --rx-port 1 --payload udp --expect vxlan --dmac "$dmac" --smac "$KG_POD_MAC" \
		--src "$POD_IP" --dst "$REMOTE_IP" "$@"
}

run_tern_kernel() {
	local line
	NS=$KR
	SINK_MAC=$KG_SINK_MAC
	FAB_MAC=$KR_FAB_MAC
	local saved=$FABRIC saved_if=$FAB_IF
	FABRIC=afpacket
	FAB_IF=kr-fab
	POD_MAC_SAVED=$POD_MAC
	POD_MAC=$KG_POD_MAC
	rps "$KR" kr-pod "${KERNEL_TERN_RPS:-1}"
	tern_start vxlan "--type kernel --ifname kr-pod"
	local rc=$?
	POD_MAC=$POD_MAC_SAVED
	FABRIC=$saved
	FAB_IF=$saved_if
	if [ $rc -ne 0 ]; then tern_stop; return 1; fi
	profile_start "$VR_PID" tern-kernel
	line=$(kernel_pktgen pktgen-tern-kernel "$ROUTER_MAC" --watch-tid "$VR_PID")
	profile_stop tern-kernel
	# Capacity as the issue defines it: busy cycles (rounds that moved
	# packets, their system calls included). The thread's CPU time also
	# counts the empty polls of a poll-mode forwarder that waits for the
	# kernel's delivery on the other core: that is printed too.
	local busy; busy=$(tern_busy)
	tern_stop
	result tern "$line" "$busy"
}

# The same job in the kernel: route 10.1.0.2/32 into a VXLAN device (VNI 5001,
# remote 192.0.2.2) whose underlay is kr-fab; static neighbours on both sides.
kernel_fwd_up() {
	local k="ip -n $KR"
	$k addr add 10.1.0.254/24 dev kr-pod &&
	$k addr add "$FAB_IP/24" dev kr-fab &&
	$k link add vx0 type vxlan id "$VNI" local "$FAB_IP" remote "$PEER_IP" dstport 4789 dev kr-fab &&
	$k link set vx0 up &&
	$k route add "$REMOTE_IP/32" dev vx0 &&
	$k neigh replace "$REMOTE_IP" lladdr "$REMOTE_MAC" dev vx0 nud permanent &&
	$k neigh replace "$PEER_IP" lladdr "$KG_SINK_MAC" dev kr-fab nud permanent &&
	ip netns exec "$KR" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.kr-pod.rp_filter=0
}
kernel_fwd_down() {
	ip netns exec "$KR" sysctl -qw net.ipv4.ip_forward=0
	ip -n "$KR" link del vx0 2>/dev/null
	ip -n "$KR" addr flush dev kr-pod
	ip -n "$KR" addr flush dev kr-fab
	ip -n "$KR" neigh flush all 2>/dev/null
}

run_kernel() {
	local line
	rps "$KR" kr-pod 2
	kernel_fwd_up || { bl_log "kernel: cannot set up the VXLAN device and routes"; kernel_fwd_down; return 1; }
	line=$(kernel_pktgen pktgen-kernel "$KR_POD_MAC" --watch-cpu "$FWD_LCORE")
	kernel_fwd_down
	result kernel "$line"
}

case_kernel() {
	local i
	kernel_setup
	for ((i = 1; i <= REPS; i++)); do
		bl_log "kernel-vxlan: run $i/$REPS"
		run_tern_kernel
		run_kernel
	done
	# The delivery into tern's af_packet ring runs on the generator's core
	# (see above) and is not in tern's busy cycles. Its cost is the extra
	# interrupt/softirq time of that core per packet in tern's runs over the
	# kernel's runs (both have the sink's delivery there): added to tern's
	# cycles it gives a capacity that leaves none of tern's work out.
	local ti ki tw
	ti=$(bl_median ${I[tern]:-}); ki=$(bl_median ${I[kernel]:-})
	tw=$(awk -v c="$(bl_median ${C[tern]:-})" -v t="$ti" -v k="$ki" \
		'BEGIN { if (c == "-" || t == "-" || k == "-") { print "-"; exit }
			d = t - k; if (d < 0) d = 0; printf "%.0f", c + d }')
	summary kernel-vxlan kernel " fabric=afpacket gen_core_irq_cpp=tern:$ti,kernel:$ki tern_with_delivery_cpp=$tw with_delivery_ratio=$(bl_div "$(bl_median ${C[kernel]:-})" "$tw")"
}

# --- pipeline: the core alone --------------------------------------------------

case_pipeline() {
	local i ns=() line n1=3200 n2=67200 i1 i2 instr
	for ((i = 1; i <= REPS; i++)); do
		line=$("$PIPE" --path mplsoudp-encap --packets 20000000 2>>"$BL_DIR/pipeline.log") ||
			{ bl_log "vr_pipeline_bench failed: $(tail -1 "$BL_DIR/pipeline.log")"; return 1; }
		ns+=("$(kv "$line" ns_per_pkt)")
	done
	instr=-
	if command -v valgrind >/dev/null; then
		# Instructions in run_bursts only; the difference of two runs leaves the
		# per-packet cost alone (warm-up and call overheads cancel).
		for n in $n1 $n2; do
			valgrind --tool=callgrind --callgrind-out-file="$BL_DIR/callgrind.$n" --collect-atstart=no \
				--toggle-collect=run_bursts "$PIPE" --path mplsoudp-encap --packets "$n" \
				>>"$BL_DIR/pipeline.log" 2>&1 || { bl_log "callgrind run failed (see $BL_DIR/pipeline.log)"; break; }
		done
		i1=$(sed -n 's/^totals: *//p' "$BL_DIR/callgrind.$n1" 2>/dev/null)
		i2=$(sed -n 's/^totals: *//p' "$BL_DIR/callgrind.$n2" 2>/dev/null)
		[ -n "$i1" ] && [ -n "$i2" ] && instr=$(awk -v a="$i1" -v b="$i2" -v n=$((n2 - n1)) \
			'BEGIN { printf "%.0f", (b - a) / n }')
	fi
	echo "bench vrouter.pipeline: tern=$(bl_median "${ns[@]}") instr=$instr path=mplsoudp-encap" \
		"spread_ns=$(bl_spread "${ns[@]}")"
}

# --- main --------------------------------------------------------------------

rc=0
started=$(date +%s)
MEMIF_READY=
for c in $CASES; do
	case $c in
	mplsoudp-encap|mplsoudp-decap|vxlan-encap|flow-setup|policy-overhead|flow-mem)
		[ -n "$MEMIF_READY" ] || { memif_setup; MEMIF_READY=1; }
		;;
	esac
	case $c in
	mplsoudp-encap) for_memif_modes case_memif_testpmd mplsoudp-encap mplsoudp || rc=1 ;;
	mplsoudp-decap) for_memif_modes case_memif_testpmd mplsoudp-decap mplsoudp || rc=1 ;;
	vxlan-encap) for_memif_modes case_ovs || rc=1 ;;
	kernel-vxlan) case_kernel || rc=1 ;;
	pipeline) case_pipeline || rc=1 ;;
	flow-setup) case_flow_setup || rc=1 ;;
	policy-overhead) case_policy_overhead || rc=1 ;;
	flow-mem) case_flow_mem || rc=1 ;;
	*) bl_log "unknown case '$c'"; rc=1 ;;
	esac
done
bl_log "vrouter benchmarks took $(( $(date +%s) - started )) s"
exit $rc
