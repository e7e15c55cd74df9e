#!/usr/bin/env bash
# bench/control.sh — the route-server benchmark (bench/run control, i.e. make
# bench ONLY=control): one feed of BENCH_ROUTES (default 1,000,000) distinct
# VPNv4 routes (varied RDs, route targets, labels) from one iBGP client,
# reflected by the route server under test to a second client; the time until
# the second client holds them all, and the server's peak RSS per route.
# Servers, in the same run: tern-control, gobgpd, BIRD 2. The feed and the
# receiver are bench/tern-bgpfeed.c (C, pre-encoded UPDATEs, large writes).
# Everything runs in a namespace of its own: server 10.0.0.1, feed 10.0.0.2,
# receiver 10.0.0.3 on its loopback.
set -u
cd "$(dirname "$0")/.."
source bench/lib.sh
BUILD=${BUILD:-build}
ROUTES=${BENCH_ROUTES:-1000000}
FEED=$BUILD/bench/tern-bgpfeed
TC=$BUILD/control/tern-control
[ -x "$FEED" ] && [ -x "$TC" ] || bl_die "no $FEED or $TC: build first (ninja -C $BUILD)"
bl_init
NS=$(bl_netns rs)
for a in 10.0.0.1 10.0.0.2 10.0.0.3; do ip -n "$NS" addr add "$a/32" dev lo; done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# run_case NAME: the server was started (BL_PID); feed, measure, stop.
declare -A SECS BPR
run_case() {
	local name=$1 pid=$BL_PID base secs hwm
	sleep 1
	base=$(rss_kb "$pid")
	if ! secs=$(ip netns exec "$NS" "$FEED" --server 10.0.0.1 --port 179 --feed-from 10.0.0.2 \
		--recv-from 10.0.0.3 --as 65000 --routes "$ROUTES" --timeout 300 2>"$BL_DIR/feed-$name.log"); then
		bl_log "$name: $(tail -1 "$BL_DIR/feed-$name.log")"
		secs=fail
	fi
	hwm=$(hwm_kb "$pid")
	SECS[$name]=$secs
	BPR[$name]=$(( (hwm - base) * 1024 / ROUTES ))
	bl_log "$name: $secs s, peak RSS $((hwm / 1024)) MiB (was $((base / 1024)) MiB before the feed)"
	bl_stop "$pid"
}

# ---- tern-control
cat >"$BL_DIR/tern.conf" <<EOF
router-id 10.0.0.1
as 65000
listen 10.0.0.1 179
hold-time 180
startup-defer 0
control-socket $BL_DIR/tern-ctl.sock
log-level warn

[neighbor 10.0.0.2]
as 65000
families vpnv4
rr-client
passive

[neighbor 10.0.0.3]
as 65000
families vpnv4
rr-client
passive
EOF
bl_start tern-control "$NS" "$TC" -c "$BL_DIR/tern.conf"
run_case tern

# ---- gobgpd
if command -v gobgpd >/dev/null; then
	{
		printf '[global.config]\n  as = 65000\n  router-id = "10.0.0.1"\n  port = 179\n  local-address-list = ["10.0.0.1"]\n'
		for n in 10.0.0.2 10.0.0.3; do
			printf '[[neighbors]]\n  [neighbors.config]\n    neighbor-address = "%s"\n    peer-as = 65000\n' "$n"
			printf '  [neighbors.transport.config]\n    passive-mode = true\n    local-address = "10.0.0.1"\n'
			printf '  [neighbors.timers.config]\n    hold-time = 180\n'
			printf '  [neighbors.route-reflector.config]\n    route-reflector-client = true\n    route-reflector-cluster-id = "10.0.0.1"\n'
			printf '  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = "l3vpn-ipv4-unicast"\n'
		done
	} >"$BL_DIR/gobgpd.toml"
	bl_start gobgpd "$NS" gobgpd -f "$BL_DIR/gobgpd.toml" -t toml --api-hosts 127.0.0.1:50091 -l warn
	run_case gobgpd
else
	SECS[gobgpd]=missing BPR[gobgpd]=0
fi

# ---- BIRD 2
if command -v bird >/dev/null; then
	cat >"$BL_DIR/bird.conf" <<'EOF'
router id 10.0.0.1;
vpn4 table vtab;
protocol device { }
# The next hops (the clients' loopback addresses) resolve through this.
protocol static { ipv4; route 10.0.0.0/24 via "lo"; }
template bgp rsclient {
  local 10.0.0.1 as 65000;
  rr client;
  rr cluster id 10.0.0.1;
  passive;
  hold time 180;
  vpn4 mpls { table vtab; import all; export all; next hop keep; gateway recursive; igp table master4; };
}
protocol bgp feed from rsclient { neighbor 10.0.0.2 as 65000; }
protocol bgp recv from rsclient { neighbor 10.0.0.3 as 65000; }
EOF
	bl_start bird "$NS" bird -f -c "$BL_DIR/bird.conf" -s "$BL_DIR/bird.ctl" -P "$BL_DIR/bird.pid"
	run_case bird
else
	SECS[bird]=missing BPR[bird]=0
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "bench control.reflect1m: tern=${SECS[tern]} gobgpd=${SECS[gobgpd]} bird=${SECS[bird]} ratio-gobgpd=$(ratio "${SECS[gobgpd]}" "${SECS[tern]}") ratio-bird=$(ratio "${SECS[bird]}" "${SECS[tern]}")"
echo "bench control.mem1m: tern=${BPR[tern]} gobgpd=${BPR[gobgpd]} bird=${BPR[bird]}"
