# bench/lib.sh — what every benchmark group needs: a scratch directory, network
# namespaces and processes it started, and cleanup that always runs (normal
# exit, failure, Ctrl-C, TERM). Like tests/lib/netns.sh, but a process is
# forgotten as soon as it is stopped (benchmarks start hundreds; a stale PID
# must never be signalled later), and extra undo steps can be registered.
#
#   bl_init                        # trap, prefix $BL (short), scratch dir $BL_DIR
#   ns=$(bl_netns gen)             # namespace "${BL}gen", deleted at exit
#   bl_veth a "$ns1" b "$ns2"      # veth pair a (in ns1) <-> b (in ns2)
#   bl_start name ns cmd...        # background; log $BL_DIR/name.log; PID in $BL_PID
#   bl_stop "$pid" [INT|TERM]      # signal, wait up to 10 s, then KILL
#   bl_wait "what" 10 cmd...       # retry cmd until it succeeds; 1 on timeout
#   bl_undo "cmd ..."              # run at exit, last registered first
#   bl_median 3 1 2 -> 2 ; bl_spread -> "min-max"
# BL_KEEP=1 (set when a run failed) or BENCH_KEEP=1 keeps $BL_DIR at exit.
# Never kills by name: only PIDs it started (and, for a namespace it created,
# whatever still runs inside it).

# Stopping by PID is the tests' (tl_stop): one implementation.
source "$(dirname "${BASH_SOURCE[0]}")/../tests/lib/netns.sh"

BL_PIDS=()
BL_UNDO=()

bl_log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bl_die() { echo "bench: $*" >&2; exit 1; }

bl_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local i
	for ((i = ${#BL_PIDS[@]} - 1; i >= 0; i--)); do
		[ -n "${BL_PIDS[$i]}" ] && bl_stop "${BL_PIDS[$i]}" TERM
	done
	for ((i = ${#BL_UNDO[@]} - 1; i >= 0; i--)); do
		eval "${BL_UNDO[$i]}" >/dev/null 2>&1
	done
	if [ -f "$BL_DIR/netns" ]; then
		while read -r ns; do
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
			ip netns del "$ns" 2>/dev/null
		done < "$BL_DIR/netns"
	fi
	if [ "$rc" -ne 0 ] || [ "${BENCH_KEEP:-0}" = 1 ] || [ "${BL_KEEP:-0}" = 1 ]; then
		echo "bench: logs kept in $BL_DIR" >&2
	else
		rm -rf "$BL_DIR"
	fi
	exit "$rc"
}

bl_init() {
	[ "$(id -u)" = 0 ] || bl_die "needs root (namespaces, hugepages)"
	BL="b$(printf '%x' $(( $$ % 65536 )))"
	BL_DIR=$(mktemp -d "/tmp/tern-bench-$BL.XXXXXX")
	trap bl_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

bl_undo() { BL_UNDO+=("$1"); }

bl_netns() {
	local ns="${BL}$1"
	ip netns add "$ns" || bl_die "cannot create namespace $ns"
	echo "$ns" >>"$BL_DIR/netns"
	ip -n "$ns" link set lo up
	echo "$ns"
}

# bl_veth NAME_A NS_A NAME_B NS_B: created inside NS_A, so nothing appears in
# the root namespace, even for a moment.
bl_veth() {
	local a=$1 nsa=$2 b=$3 nsb=$4
	ip -n "$nsa" link add "$a" type veth peer name "$b" netns "$nsb" ||
		bl_die "cannot create veth $a/$b"
	ip -n "$nsa" link set "$a" up
	ip -n "$nsb" link set "$b" up
	# No IPv6 chatter (router solicitations, DAD) on benchmark links.
	ip netns exec "$nsa" sysctl -qw "net.ipv6.conf.$a.disable_ipv6=1"
	ip netns exec "$nsb" sysctl -qw "net.ipv6.conf.$b.disable_ipv6=1"
}

# bl_start NAME NS CMD...: NS "" = the root namespace. Sets BL_PID (no subshell).
bl_start() {
	local name=$1 ns=$2; shift 2
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@" >"$BL_DIR/$name.log" 2>&1 &
	else
		"$@" >"$BL_DIR/$name.log" 2>&1 &
	fi
	BL_PID=$!
	BL_PIDS+=("$BL_PID")
}

bl_stop() { # PID [SIGNAL]: forget it, then stop it as the tests do
	local pid=$1 i
	for i in "${!BL_PIDS[@]}"; do
		[ "${BL_PIDS[$i]}" = "$pid" ] && unset 'BL_PIDS[i]'
	done
	tl_stop "$pid" "${2:-TERM}"
}

bl_wait() {
	local what=$1 secs=$2; shift 2
	local end=$(( $(date +%s) + secs ))
	while ! "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$end" ]; then
			bl_log "timed out after ${secs}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}

# Median and spread of numbers (arguments); "-" when there are none.
bl_median() {
	[ $# -gt 0 ] || { echo -; return; }
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
bl_spread() {
	[ $# -gt 0 ] || { echo -; return; }
	printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'
}
# bl_div A B [FORMAT]: A / B, "-" when either is missing or B is 0.
bl_div() {
	awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN {
		if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-"; else printf f "\n", a / b }'
}
