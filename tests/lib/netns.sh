# tests/lib/netns.sh — the end-to-end test library: network namespaces, veth
# pairs, processes started and stopped by PID, and cleanup that always runs
# (normal exit, failure, Ctrl-C, TERM from the driver's timeout).
#
#   source tests/lib/netns.sh
#   tl_init                         # trap, unique prefix $TL, scratch dir $TL_DIR
#   ns=$(tl_netns host1)            # namespace "${TL}host1", deleted at exit
#   tl_veth a "$ns1" b "$ns2"       # veth pair a (in ns1) <-> b (in ns2)
#   tl_start name ns cmd...         # background process, log in $TL_DIR/name.log;
#                                   # its PID in $TL_LAST_PID, stopped at exit
#   tl_stop "$pid" [SIG]            # SIG (TERM), then KILL after 10 s
#   tl_wait "what" 10 cmd...        # retry cmd until it succeeds or 10 s pass
#   tl_skip "no tshark"             # exit 77 naming the missing capability
#   tl_fail "message"               # exit 1
# Never kills by name; only PIDs it started. Traffic stays in its namespaces.

TL_PIDS=()
TL_LINKS=()

tl_log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }

tl_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local i
	for ((i = ${#TL_PIDS[@]} - 1; i >= 0; i--)); do
		tl_stop "${TL_PIDS[$i]}" 2>/dev/null
	done
	for l in "${TL_LINKS[@]}"; do
		ip link del "$l" 2>/dev/null
	done
	# Namespaces are registered in a file: tl_netns often runs in $(...).
	if [ -f "$TL_DIR/netns" ]; then
		while read -r ns; do
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
			ip netns del "$ns" 2>/dev/null
		done < "$TL_DIR/netns"
	fi
	if [ "${TL_KEEP_DIR:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
		[ -n "${TL_DIR:-}" ] && echo "logs kept in $TL_DIR"
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "${TL_DIR:-}" ]; then
			for f in "$TL_DIR"/*.log; do
				[ -f "$f" ] || continue
				echo "---- $f (last 15 lines)"
				tail -15 "$f"
			done
		fi
	else
		rm -rf "$TL_DIR"
	fi
	exit "$rc"
}

tl_init() {
	[ "$(id -u)" = 0 ] || tl_skip "needs root (network namespaces)"
	command -v ip >/dev/null || tl_skip "no iproute2"
	# A short unique prefix: interface names are limited to 15 characters.
	TL="t$(printf '%x' $(( $$ % 65536 )))"
	TL_DIR=$(mktemp -d "/tmp/tern-$TL.XXXXXX")
	trap tl_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	ip netns add "${TL}probe" 2>/dev/null || tl_skip "cannot create network namespaces"
	ip netns del "${TL}probe"
}

tl_netns() {
	local ns="${TL}$1"
	ip netns add "$ns" || tl_fail "cannot create namespace $ns"
	echo "$ns" >>"$TL_DIR/netns"
	ip -n "$ns" link set lo up
	echo "$ns"
}

# tl_veth NAME_A NS_A NAME_B NS_B   (NS "" = the root namespace)
# Created under temporary names and renamed in place, so that a name like eth0
# never clashes with the root namespace's interfaces.
tl_veth() {
	local a=$1 nsa=$2 b=$3 nsb=$4
	TL_VETH_N=$(( ${TL_VETH_N:-0} + 1 ))
	local ta="${TL}x${TL_VETH_N}a" tb="${TL}x${TL_VETH_N}b"
	ip link add "$ta" type veth peer name "$tb" || tl_fail "cannot create veth $a/$b"
	TL_LINKS+=("$ta")
	if [ -n "$nsa" ]; then ip link set "$ta" netns "$nsa"; fi
	if [ -n "$nsb" ]; then ip link set "$tb" netns "$nsb"; fi
	tl_in "$nsa" ip link set "$ta" name "$a" || tl_fail "cannot name $a"
	tl_in "$nsb" ip link set "$tb" name "$b" || tl_fail "cannot name $b"
	[ -z "$nsa" ] && TL_LINKS+=("$a")
	[ -z "$nsb" ] && TL_LINKS+=("$b")
	tl_in "$nsa" ip link set "$a" up
	tl_in "$nsb" ip link set "$b" up
}

tl_in() {
	local ns=$1; shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# tl_start NAME NS CMD... : sets TL_LAST_PID (not in a subshell: $(...) would lose it)
tl_start() {
	local name=$1 ns=$2; shift 2
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@" >"$TL_DIR/$name.log" 2>&1 &
	else
		"$@" >"$TL_DIR/$name.log" 2>&1 &
	fi
	TL_LAST_PID=$!
	TL_PIDS+=("$TL_LAST_PID")
}

# tl_stop PID [SIGNAL]: SIGNAL (TERM by default), then KILL after 10 s.
tl_stop() {
	local pid=$1 sig=${2:-TERM} i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill "-$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

tl_wait() {
	local what=$1 secs=$2; shift 2
	local end=$(( $(date +%s) + secs ))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$end" ] && tl_fail "timed out after ${secs}s waiting for $what"
		sleep 0.2
	done
}

tl_skip() { echo "SKIP: $*"; exit 77; }
tl_fail() { echo "FAIL: $*" >&2; exit 1; }
tl_check() { # tl_check "description" cmd...
	local what=$1; shift
	if "$@"; then tl_log "PASS $what"; else tl_fail "$what"; fi
}
