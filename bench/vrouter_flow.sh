# bench/vrouter_flow.sh — sourced by bench/vrouter.sh: flows and policy (issue 7).
#
#   flow-setup       every packet a new 5-tuple (tern-pktgen --new-flows), through a
#                    1,000-rule policy, routed into a VXLAN tunnel as in vxlan-encap:
#                    tern (policy_out of the pod vif, flow table) against OVS-DPDK doing
#                    the same with its userspace connection tracker (ct(commit)) and the
#                    same 1,000 rules as OpenFlow flows. New flows per second.
#   policy-overhead  the established 256-flow traffic of mplsoudp-encap through tern with
#                    the same policy (every flow in the table) against tern without one.
#   flow-mem         bytes of memory per connection (both directions): tern with its
#                    table full, OVS after at least as many new connections.
#
# Method and results: docs/PERFORMANCE.md, "Flows (issue 7)". Knobs (besides
# vrouter.sh's): BENCH_FLOW_WARMUP / BENCH_FLOW_DURATION (flow-setup, default 0.5 s and
# 1.25 s: every packet of both lands in the tables), BENCH_FLOW_TABLE (tern's --flows for
# flow-setup, entries, two per connection; default 8388608), BENCH_FLOW_MEM_TABLE
# (flow-mem, default 1048576: 524,288 connections; OVS gets as many).

FLOW_WARMUP=${BENCH_FLOW_WARMUP:-0.5}
FLOW_DURATION=${BENCH_FLOW_DURATION:-1.25}  # tern sets up ~1.8 M/s: 4.2 M connections last 2.3 s
FLOW_TABLE=${BENCH_FLOW_TABLE:-8388608}
FLOW_MEM_TABLE=${BENCH_FLOW_MEM_TABLE:-1048576}
OVS_MAXCONNS=20000000  # conntrack limit for OVS: never reached in a window
POLICY_ID=1

# --- the policy: 1,000 rules, none of the first 999 matches the traffic --------
# The traffic (tern-pktgen): UDP from 10.1.0.0/16 (pod, source port varies) to
# 10.1.0.2 port 5000. Rules, in order: TCP services from other /24s, DNS denies
# from 172.16/12, UDP to other /16s, TCP denies to the pod network, IPv6 services;
# rule 1000 passes UDP 10.1.0.0/16 -> 10.1.0.0/16 port 5000; the default denies.
# Each rule is written once as "id action proto family src dst dport" and turned
# into tern's rule syntax and into an OpenFlow match.

policy_rules() {
	local i a b
	for ((i = 1; i < 1000; i++)); do
		a=$((i % 250)); b=$((i / 250))
		case $((i % 5)) in
		0) echo "$i pass tcp 4 10.$((2 + a)).$b.0/24 10.1.0.0/16 $((1024 + i))" ;;
		1) echo "$i deny udp 4 172.16.$((i % 256)).0/24 any 53" ;;
		2) echo "$i pass udp 4 any 10.$((20 + i % 200)).0.0/16 $((8000 + i % 100))" ;;
		3) echo "$i deny tcp 4 any 10.1.0.0/16 $((20000 + i))" ;;
		4) echo "$i pass udp 6 fd00:$(printf %x "$i")::/64 fd00:1::/64 443" ;;
		esac
	done
	echo "1000 pass udp 4 10.1.0.0/16 10.1.0.0/16 5000"
}

# tern: the same lines, loaded by bench/tern-policyload (ternctl's request
# buffer holds about 75 rules; the rule syntax for ternctl would be
# "id=ID,action=ACT,proto=PROTO,family=FAM,src=SRC,dst=DST,dport=DPORT").
policy_tern_file() { policy_rules >"$1"; }

# OpenFlow for OVS's br-int: table 0 sends IP from the pod to the connection
# tracker; table 1 checks new connections against the rules (first match = highest
# priority), commits the passed ones and routes them (the vxlan-encap flow's
# actions); packets of known connections are routed without a rule.
policy_ovs_file() { # FILE
	local route="mod_dl_src:$ROUTER_MAC,mod_dl_dst:$REMOTE_MAC,dec_ttl,output:vx"
	{
		echo "table=0,priority=100,in_port=pM,ip,actions=ct(table=1)"
		echo "table=0,priority=100,in_port=pM,ipv6,actions=ct(table=1)"
		echo "table=1,priority=3000,ct_state=+trk+est,in_port=pM,actions=$route"
		echo "table=1,priority=3000,ct_state=+trk+rel,in_port=pM,actions=$route"
		policy_rules | while read -r id act proto fam src dst dport; do
			local m="$proto" act_s="ct(commit),$route"
			[ "$fam" = 6 ] && m="${proto}6"
			if [ "$fam" = 4 ]; then
				[ "$src" = any ] || m+=",nw_src=$src"
				[ "$dst" = any ] || m+=",nw_dst=$dst"
			else
				[ "$src" = any ] || m+=",ipv6_src=$src"
				[ "$dst" = any ] || m+=",ipv6_dst=$dst"
			fi
			[ "$act" = deny ] && act_s=drop
			echo "table=1,priority=$((2000 - id)),ct_state=+trk+new,in_port=pM,$m,tp_dst=$dport,actions=$act_s"
		done
		echo "table=1,priority=1,actions=drop"
	} >"$1"
}

# TERN_HOOK of the policy cases: the policy, before the pod vif names it.
POLICYLOAD=$BL_DIR/bin/tern-policyload   # copied with the others (vrouter.sh)
if [ -x "$BUILD/bench/tern-policyload" ]; then cp "$BUILD/bench/tern-policyload" "$POLICYLOAD"; fi
tern_add_policy() {
	local out
	out=$("$POLICYLOAD" "$BL_DIR/vr/ctl.sock" "$POLICY_ID" deny "$BL_DIR/rules.tern" 2>&1) ||
		{ bl_log "tern-policyload: $out"; return 1; }
}

# tern_flow_start ENCAP on|off [vrouter-args]: tern as in the memif cases, the pod
# vif's policy_out the 1,000-rule policy (on) or none (off).
tern_flow_start() {
	local encap=$1 pol=$2 podvif="--type memif --socket $BL_DIR/pod.sock --role server"
	local TERN_ARGS=${3:-} TERN_HOOK=
	if [ "$pol" = on ]; then
		TERN_HOOK=tern_add_policy
		podvif+=" --policy-out $POLICY_ID"
	fi
	tern_start "$encap" "$podvif"
}

# A counter of tern's: flows in the table (vr info), a drop reason's count (vr drop).
tern_flows() { # 0 when the vrouter does not answer
	ctl vr info -o json 2>/dev/null | /usr/bin/python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("flows", 0))
except ValueError: print(0)'
}
tern_drop() { ctl vr drop 2>/dev/null | awk -v r="$1" '$1 == r { print $2; f = 1 } END { if (!f) print 0 }'; }

# tern's --mem for a flow table of N entries: the rte_hash (key store, buckets,
# free-slot rings: under 128 bytes an entry) lives in DPDK memory.
flow_mem_mb() { echo $(( 512 + ($1 + 1048575) / 1048576 * 128 )); }

# flow-setup runs tern with hugepages, as its default (--huge auto) does on a
# node with free hugepages: without them every new flow's random bucket reads
# miss the TLB and the table's first touches are page faults in the run.
# BENCH_FLOW_HUGE=0: without.
FLOW_HUGE_ARGS=
FLOW_HUGE_BEFORE=
flow_hugepages() { # before each tern start: the pages it needs free (others may take them)
	FLOW_HUGE_ARGS=
	[ "${BENCH_FLOW_HUGE:-1}" = 1 ] || return 0
	local d=/sys/kernel/mm/hugepages/hugepages-2048kB need free
	[ -w "$d/nr_hugepages" ] || { bl_log "flow-setup: no 2 MiB hugepages; tern runs without"; return 0; }
	if [ -z "$FLOW_HUGE_BEFORE" ]; then
		FLOW_HUGE_BEFORE=$(cat "$d/nr_hugepages")
		bl_undo "echo $FLOW_HUGE_BEFORE > $d/nr_hugepages"
	fi
	need=$(( $(flow_mem_mb "$FLOW_TABLE") / 2 + 64 ))
	free=$(cat "$d/free_hugepages")
	[ "$free" -ge "$need" ] || echo $(( $(cat "$d/nr_hugepages") + need - free )) >"$d/nr_hugepages" 2>/dev/null
	free=$(cat "$d/free_hugepages")
	if [ "$free" -lt "$need" ]; then
		bl_log "flow-setup: only $free of $need 2 MiB hugepages free; tern runs without this time"
		return 0
	fi
	FLOW_HUGE_ARGS="--huge yes"
}

# Minor page faults of a process so far.
minflt() { awk '{ print $10 }' "/proc/$1/stat"; }

# Resident memory of a process in kB (hugetlbfs pages are not in it).
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# --- the core alone (vr_pipeline_bench): no I/O, so what the machine's load does
# to the rates above matters less; instructions per packet not at all ---------

# pipe_ns ARGS...: median ns/packet of REPS runs
pipe_ns() {
	local i line v=()
	for ((i = 1; i <= REPS; i++)); do
		line=$("$PIPE" "$@" 2>>"$BL_DIR/pipeline.log") || { bl_log "vr_pipeline_bench $*: $(tail -1 "$BL_DIR/pipeline.log")"; echo -; return; }
		v+=("$(kv "$line" ns_per_pkt)")
	done
	echo "$(bl_median "${v[@]}")"
}

# pipe_instr ARGS...: instructions per packet in run_bursts (callgrind, two runs'
# difference, as case_pipeline)
pipe_instr() {
	command -v valgrind >/dev/null || { echo -; return; }
	local n n1=3200 n2=67200 i1 i2
	for n in $n1 $n2; do
		valgrind --tool=callgrind --callgrind-out-file="$BL_DIR/callgrind.flow.$n" --collect-atstart=no \
			--toggle-collect=run_bursts "$PIPE" "$@" --packets "$n" >>"$BL_DIR/pipeline.log" 2>&1 ||
			{ echo -; return; }
	done
	i1=$(sed -n 's/^totals: *//p' "$BL_DIR/callgrind.flow.$n1")
	i2=$(sed -n 's/^totals: *//p' "$BL_DIR/callgrind.flow.$n2")
	awk -v a="$i1" -v b="$i2" -v n=$((n2 - n1)) 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.0f\n", (b - a) / n }'
}

# --- flow-setup ------------------------------------------------------------------

FULL_RUNS=()   # runs in which a table filled (new flows refused), per forwarder

run_tern_flow_setup() {
	local line busy flows full
	local WARMUP=$FLOW_WARMUP DURATION=$FLOW_DURATION
	flow_hugepages
	[ -n "$FLOW_HUGE_ARGS" ] && HUGE_RUNS=$((HUGE_RUNS + 1))
	tern_flow_start vxlan on "--flows $FLOW_TABLE --mem $(flow_mem_mb "$FLOW_TABLE") $FLOW_HUGE_ARGS" ||
		{ tern_stop; return 1; }
	profile_start "$VR_PID" tern-flow-setup
	local f0; f0=$(minflt "$VR_PID")
	# shellcheck disable=SC2046
	line=$(pktgen pktgen-tern-flow-setup --vdev="$(pod_vdev_gen)" --vdev="$(fabric_vdev_gen)" -- \
		$(traffic_args vxlan-encap) --new-flows --watch-tid "$VR_PID")
	profile_stop tern-flow-setup
	local faults=$(( $(minflt "$VR_PID") - f0 ))
	busy=$(tern_busy)
	flows=$(tern_flows)
	full=$(tern_drop FLOW_TABLE_FULL)
	tern_stop
	bl_log "  tern: $((flows / 2)) connections in the table (of $((FLOW_TABLE / 2))), $(kv "$line" tuples) tuples sent, $full refused as table full, $faults page faults ($(bl_div "$faults" "$((flows / 2))" %.3f) per connection)"
	[ "${full:-0}" = 0 ] || FULL_RUNS+=(tern)
	result tern "$line" "$busy"
}

run_ovs_flow_setup() {
	local line busy nconns
	local WARMUP=$FLOW_WARMUP DURATION=$FLOW_DURATION
	ovs_flow_start || { BL_KEEP=1; bl_log "OVS did not start (see $OVS_DIR/ovs-vswitchd.log)"; ovs_stop; return 1; }
	ovs_appctl dpif-netdev/pmd-stats-clear >/dev/null
	# shellcheck disable=SC2046
	line=$(pktgen pktgen-ovs-flow-setup \
		--vdev="net_memif0,role=client,socket=$BL_DIR/ovs-pod.sock,socket-abstract=no,id=0" \
		--vdev="$(fabric_vdev_gen)" -- $(traffic_args vxlan-encap) --new-flows \
		--watch-tid "$OVS_PMD_TID" --rx-queues 2)
	busy=$(ovs_pmd_cpp)
	nconns=$(ovs_appctl dpctl/ct-get-nconns 2>/dev/null)
	[ "${BENCH_OVS_DEBUG:-0}" = 1 ] && { ovs_appctl dpif-netdev/pmd-stats-show; ovs_appctl dpctl/dump-flows; } >&2
	ovs_stop
	bl_log "  ovs: ${nconns:-?} connections in conntrack (limit $OVS_MAXCONNS), $(kv "$line" tuples) tuples sent"
	[ -n "$nconns" ] && [ "$nconns" -ge "$OVS_MAXCONNS" ] && FULL_RUNS+=(ovs)
	result ovs "$line" "$busy"
}

ovs_pmd_cpp() {
	ovs_appctl dpif-netdev/pmd-stats-show | sed -n 's/.*avg processing cycles per packet: *\([0-9.]*\).*/\1/p' | head -1
}

# vswitchd with the policy's flows in br-int instead of vxlan-encap's one flow.
ovs_flow_start() {
	ovs_start || return 1
	ovs-ofctl del-flows br-int && ovs-ofctl add-flows br-int "$BL_DIR/rules.ovs" || return 1
	ovs_appctl dpctl/ct-set-maxconns "$OVS_MAXCONNS" >/dev/null || return 1
}

flow_prepare() {
	[ -x "$POLICYLOAD" ] || bl_die "$POLICYLOAD is not built (make build)"
	[ -f "$BL_DIR/rules.tern" ] && return 0
	policy_tern_file "$BL_DIR/rules.tern"
	policy_ovs_file "$BL_DIR/rules.ovs"
}

ovs_available() {
	[ -x "$OVS_VSWITCHD" ] && command -v ovsdb-server >/dev/null ||
		{ OVS_WHY="Open vSwitch with DPDK is not installed: apt-get install openvswitch-switch-dpdk"; return 1; }
	ovs_prepare
}

# Flows per second from a rate in Mpps.
fps() { awk -v m="$1" 'BEGIN { if (m == "-" || m == "") print "-"; else printf "%.0f\n", m * 1e6 }'; }

case_flow_setup() {
	local i ovs=1
	flow_prepare
	ovs_available || { ovs=; bl_log "flow-setup: no OVS peer ($OVS_WHY)"; }
	FULL_RUNS=()
	HUGE_RUNS=0
	for ((i = 1; i <= REPS; i++)); do
		bl_log "flow-setup: run $i/$REPS"
		run_tern_flow_setup
		[ -n "$ovs" ] && run_ovs_flow_setup
	done
	# shellcheck disable=SC2086
	local tr pr tc pc ratio basis
	tr=$(bl_median ${R[tern]:-}); pr=$(bl_median ${R[ovs]:-})
	tc=$(bl_median ${C[tern]:-}); pc=$(bl_median ${C[ovs]:-})
	pick_basis ovs "$tr" "$pr" "$tc" "$pc"
	# the core alone: every packet a new flow through the same kind of policy
	# (vr_pipeline_bench's own 1,000 rules, the last passes), VXLAN encap
	local pns pin
	pns=$(pipe_ns --path vxlan-encap --policy 1000 --new-flows --packets 2000000)
	pin=$(pipe_instr --path vxlan-encap --policy 1000 --new-flows)
	local full=none
	[ ${#FULL_RUNS[@]} -gt 0 ] && full=$(printf '%s\n' "${FULL_RUNS[@]}" | sort | uniq -c | awk '{ printf "%s%s:%s", (NR > 1 ? "," : ""), $2, $1 }')
	echo "bench vrouter.flow-setup: tern=$(fps "$tr") ovs=$(fps "$pr") ratio=$ratio" \
		"tern_cpp=$tc ovs_cpp=$pc cap_ratio=$(bl_div "$pc" "$tc") basis=$basis" \
		"spread_mpps=tern:$(bl_spread ${R[tern]:-}),ovs:$(bl_spread ${R[ovs]:-})" \
		"runs=tern:$(wc -w <<<"${R[tern]:-}"),ovs:$(wc -w <<<"${R[ovs]:-}") table_full=$full rules=1000 fabric=$FABRIC tern_hugepage_runs=$HUGE_RUNS" \
		"pipeline_new_flow_ns=$pns pipeline_new_flow_instr=$pin"
	unset R C S T
	declare -gA R C S T
}

# --- policy-overhead -----------------------------------------------------------

run_tern_policy() { # on|off
	local pol=$1 line busy
	tern_flow_start mplsoudp "$pol" || { tern_stop; return 1; }
	profile_start "$VR_PID" "tern-policy-$pol"
	# shellcheck disable=SC2046
	line=$(pktgen "pktgen-tern-policy-$pol" --vdev="$(pod_vdev_gen)" --vdev="$(fabric_vdev_gen)" -- \
		$(traffic_args mplsoudp-encap) --watch-tid "$VR_PID")
	profile_stop "tern-policy-$pol"
	busy=$(tern_busy)
	[ "$pol" = on ] && bl_log "  tern-on: $(( $(tern_flows) / 2 )) connections in the table"
	tern_stop
	result "$pol" "$line" "$busy"
}

case_policy_overhead() {
	local i
	flow_prepare
	for ((i = 1; i <= REPS; i++)); do
		bl_log "policy-overhead: run $i/$REPS"
		run_tern_policy on
		run_tern_policy off
	done
	# the core alone, established flows (256), policy on and off
	local pon poff ion ioff
	pon=$(pipe_ns --path mplsoudp-encap --policy 1000 --packets 20000000)
	poff=$(pipe_ns --path mplsoudp-encap --packets 20000000)
	ion=$(pipe_instr --path mplsoudp-encap --policy 1000)
	ioff=$(pipe_instr --path mplsoudp-encap)
	# shellcheck disable=SC2086
	local on off onc offc
	on=$(bl_median ${R[on]:-}); off=$(bl_median ${R[off]:-})
	onc=$(bl_median ${C[on]:-}); offc=$(bl_median ${C[off]:-})
	echo "bench vrouter.policy-overhead: tern-on=$on tern-off=$off ratio=$(bl_div "$on" "$off")" \
		"on_cpp=$onc off_cpp=$offc cap_ratio=$(bl_div "$offc" "$onc")" \
		"spread_mpps=on:$(bl_spread ${R[on]:-}),off:$(bl_spread ${R[off]:-})" \
		"runs=on:$(wc -w <<<"${R[on]:-}"),off:$(wc -w <<<"${R[off]:-}") flows=$FLOWS rules=1000 fabric=$FABRIC" \
		"pipeline_ns=on:$pon,off:$poff pipeline_ratio=$(bl_div "$poff" "$pon") pipeline_instr=on:$ion,off:$ioff"
	unset R C S T
	declare -gA R C S T
}

# --- flow-mem ----------------------------------------------------------------------
# tern: the table is sized at start, so its cost is what the process holds with
# the table full against the same process with a 1024-entry table after the
# same traffic: (VmRSS full - VmRSS tiny) / connections in the table. (Run with
# --huge no, so that the rte_hash part, in DPDK memory, is in VmRSS too.) Also
# logged: how much VmRSS grew while the table filled, per connection added.
# OVS allocates per connection: VmRSS of ovs-vswitchd after about
# FLOW_MEM_TABLE / 2 new connections minus before, over the connections
# `ovs-appctl dpctl/ct-get-nconns` counts. A short first run of traffic (other
# source addresses) warms both up before "before". Traffic runs 1 s at a time
# (each from its own source addresses, so no tuple repeats) until the table is
# full (tern) or holds FLOW_MEM_TABLE / 2 connections (OVS), at most 12 runs.

# mem_fill NAME PORT0-VDEV RUN-ARGS...: one 1-s new-flow run from source 10.1.<16n>.1
MEM_RUN=0
mem_fill() {
	local name=$1 pod=$2; shift 2
	local WARMUP=0 DURATION=${MEM_DURATION:-1}
	MEM_RUN=$((MEM_RUN + 1))
	# shellcheck disable=SC2046
	pktgen "$name-$MEM_RUN" --vdev="$pod" --vdev="$(fabric_vdev_gen)" -- \
		$(traffic_args vxlan-encap | sed "s/--src [^ ]*/--src 10.1.$((MEM_RUN * 16 % 256)).$((MEM_RUN / 16 + 1))/") \
		--new-flows "$@" >/dev/null
}

# tern_mem_run TABLE: sets TM_RSS (kB, table filled), TM_CONNS, TM_GROWTH (bytes
# per connection added while filling)
tern_mem_run() {
	local table=$1 r0 r1 c0 k
	tern_flow_start vxlan on "--flows $table --mem $(flow_mem_mb "$table")" || { tern_stop; return 1; }
	MEM_DURATION=0.3 mem_fill pktgen-tern-mem-warm "$(pod_vdev_gen)"
	r0=$(rss_kb "$VR_PID" 2>/dev/null); c0=$(( $(tern_flows) / 2 ))
	for ((k = 0; k < 12; k++)); do
		[ $(( $(tern_flows) + 2 )) -ge "$table" ] && break
		mem_fill pktgen-tern-mem "$(pod_vdev_gen)"
	done
	r1=$(rss_kb "$VR_PID" 2>/dev/null)
	TM_CONNS=$(( $(tern_flows) / 2 ))
	if [ -z "$r1" ] || [ -z "$r0" ]; then # it died (tern_stop says so)
		tern_stop
		return 1
	fi
	tern_stop
	TM_RSS=$r1
	TM_GROWTH=$(awk -v a=$((r1 - r0)) -v n=$((TM_CONNS - c0)) 'BEGIN { if (n > 0) printf "%.0f", a * 1024 / n; else print "-" }')
}

# ovs_mem_run: sets OM_KB (VmRSS growth) and OM_CONNS (connections added)
ovs_mem_run() {
	local r0 r1 n0 n1 k pod="net_memif0,role=client,socket=$BL_DIR/ovs-pod.sock,socket-abstract=no,id=0"
	ovs_flow_start || { ovs_stop; return 1; }
	MEM_DURATION=0.3 mem_fill pktgen-ovs-mem-warm "$pod" --rx-queues 2
	n0=$(ovs_appctl dpctl/ct-get-nconns); r0=$(rss_kb "$OVS_PID" 2>/dev/null)
	for ((k = 0; k < 12; k++)); do
		[ $(( $(ovs_appctl dpctl/ct-get-nconns || echo 0) - ${n0:-0} )) -ge $((FLOW_MEM_TABLE / 2)) ] && break
		mem_fill pktgen-ovs-mem "$pod" --rx-queues 2
	done
	n1=$(ovs_appctl dpctl/ct-get-nconns); r1=$(rss_kb "$OVS_PID" 2>/dev/null)
	[ "${BENCH_OVS_DEBUG:-0}" = 1 ] && ovs_appctl dpctl/ct-stats-show >&2
	ovs_stop
	case "$n0$n1$r0$r1" in *[!0-9]*|'') bl_log "  ovs: no count or VmRSS (did vswitchd exit?)"; return 1 ;; esac
	[ -n "$n0" ] && [ -n "$n1" ] && [ -n "$r0" ] && [ -n "$r1" ] || return 1
	OM_KB=$((r1 - r0)); OM_CONNS=$((n1 - n0))
}

case_flow_mem() {
	local i t tb=() ob=() growth=() rf conns
	flow_prepare
	local ovs=1
	ovs_available || { ovs=; bl_log "flow-mem: no OVS peer ($OVS_WHY)"; }
	for ((i = 1; i <= REPS; i++)); do
		bl_log "flow-mem: run $i/$REPS"
		if tern_mem_run "$FLOW_MEM_TABLE"; then
			rf=$TM_RSS conns=$TM_CONNS
			growth+=("$TM_GROWTH")
			if tern_mem_run 1024; then
				t=$(awk -v a="$rf" -v b="$TM_RSS" -v n="$conns" 'BEGIN { if (n > 0) printf "%.0f", (a - b) * 1024 / n }')
				[ -n "$t" ] && tb+=("$t")
				bl_log "  tern: $conns connections (table $FLOW_MEM_TABLE entries): VmRSS $rf kB, $TM_RSS kB with a 1024-entry table -> ${t:-?} B/connection; grew ${growth[-1]} B per connection added while filling"
			fi
		fi
		if [ -n "$ovs" ] && ovs_mem_run && [ "$OM_CONNS" -gt 0 ]; then
			ob+=("$(awk -v a="$OM_KB" -v n="$OM_CONNS" 'BEGIN { printf "%.0f", a * 1024 / n }')")
			bl_log "  ovs: $OM_CONNS connections: VmRSS +$OM_KB kB -> ${ob[-1]} B/connection"
		fi
	done
	echo "bench vrouter.flow-mem: tern=$(bl_median "${tb[@]}") ovs=$(bl_median "${ob[@]}")" \
		"ratio=$(bl_div "$(bl_median "${tb[@]}")" "$(bl_median "${ob[@]}")")" \
		"tern_fill_growth=$(bl_median "${growth[@]}") spread=tern:$(bl_spread "${tb[@]}"),ovs:$(bl_spread "${ob[@]}")" \
		"tern_table=$FLOW_MEM_TABLE"
}
