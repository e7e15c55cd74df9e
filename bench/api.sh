#!/usr/bin/env bash
# bench/api.sh — the tern-api benchmarks (bench/run api, i.e. make bench ONLY=api).
#   create  virtual-machine-interfaces, each with an instance IP, created by 8
#           keep-alive clients at once, each pair in one request (POST
#           /v1/batch: both objects in one transaction, as an orchestrator
#           creates a port): pairs/s on SQLite and on etcd, and the raw put
#           rate of the same etcd through its v3 JSON gateway (8 keep-alive
#           clients, one small put per request) for scale
#   create-posts  the same pairs as two POSTs each (the interface, then its
#           instance IP: two requests, two transactions), against the same raw
#           rate
#   watch   from just before a create's POST to its ADDED event on a watch of
#           the same tern-api (etcd store): p50 and p99 in ms
#   watch-replica  the same with the watch on a second tern-api on that etcd
#           (it learns of the write through its etcd watch on tern's keys)
# One line per case on stdout; progress on stderr. Method: docs/PERFORMANCE.md.
# Environment: BENCH_REPS (default 3; the median is printed), BENCH_COUNT
# (pairs per client per run, default 50), BENCH_PUTS (raw puts per client per
# run, default 400), BENCH_EVENTS (watch samples, default 1000: a p99 of 200
# samples was their second worst, so one etcd fsync stall more or less moved
# it by 5 ms), BENCH_KEEP=1.
set -u
cd "$(dirname "$0")/.."
source bench/lib.sh

BUILD=${BUILD:-build}
API=$BUILD/api/tern-api
LOAD=$BUILD/api/tern-api-bench
REPS=${BENCH_REPS:-3}
COUNT=${BENCH_COUNT:-50}
PUTS=${BENCH_PUTS:-400}
EVENTS=${BENCH_EVENTS:-1000}
CLIENTS=8

[ -x "$API" ] && [ -x "$LOAD" ] || bl_die "no $API or $LOAD: build first (ninja -C $BUILD)"
command -v etcd >/dev/null || bl_die "no etcd: apt-get install etcd-server etcd-client (make deps)"
bl_init

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TOKEN=bench-admin-token-0123456789
printf '%s admin name=bench\n' "$TOKEN" >"$BL_DIR/tokens"
chmod 600 "$BL_DIR/tokens"

EP=$(free_port) PP=$(free_port)
ETCD=http://127.0.0.1:$EP
bl_start etcd "" etcd --name b --data-dir "$BL_DIR/etcd" --listen-client-urls "$ETCD" \
	--advertise-client-urls "$ETCD" --listen-peer-urls "http://127.0.0.1:$PP" \
	--initial-advertise-peer-urls "http://127.0.0.1:$PP" --initial-cluster "b=http://127.0.0.1:$PP" \
	--max-txn-ops 4096
bl_wait "etcd on $ETCD" 20 curl -sf -X POST -d '{"key":"eA=="}' "$ETCD/v3/kv/range" ||
	{ BL_KEEP=1; bl_die "etcd did not start: $BL_DIR/etcd.log"; }

start_api() { # start_api NAME STORE_ARGS... -> URL in $URL
	local name=$1; shift
	bl_start "$name" "" "$API" "$@" --listen 127.0.0.1:0 --tokens "$BL_DIR/tokens" \
		--port-file "$BL_DIR/$name.port" --log-level warn
	bl_wait "tern-api $name" 10 test -s "$BL_DIR/$name.port" ||
		{ BL_KEEP=1; bl_die "tern-api $name did not start: $BL_DIR/$name.log"; }
	URL=http://127.0.0.1:$(cat "$BL_DIR/$name.port")
	local o
	for o in 'project {"name":"demo"}' \
		'virtual-network {"name":"vnb","project":"demo","subnets":[{"cidr":"10.8.0.0/16"}]}'; do
		curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
			--data-binary "${o#* }" "$URL/v1/${o%% *}" || bl_die "$name: cannot create ${o%% *}"
	done
}
start_api sqlite --db "$BL_DIR/api.db"; URL_SQLITE=$URL
start_api etcd --store etcd --etcd-endpoints "$ETCD"; URL_ETCD=$URL
bl_start etcd2 "" "$API" --store etcd --etcd-endpoints "$ETCD" --listen 127.0.0.1:0 \
	--tokens "$BL_DIR/tokens" --port-file "$BL_DIR/etcd2.port" --log-level warn
bl_wait "tern-api etcd2" 10 test -s "$BL_DIR/etcd2.port" || bl_die "second replica did not start"
URL_ETCD2=http://127.0.0.1:$(cat "$BL_DIR/etcd2.port")

rate() { sed -n 's/.*rate=\([0-9.]*\).*/\1/p'; }
sq=() et=() sq2=() et2=() raw=()
for rep in $(seq 1 "$REPS"); do
	r=$("$LOAD" create-batch "$URL_SQLITE" "$TOKEN" demo:vnb $CLIENTS "$COUNT") || bl_die "sqlite create failed"
	sq+=("$(rate <<<"$r")"); bl_log "run $rep sqlite: $r"
	r=$("$LOAD" create-batch "$URL_ETCD" "$TOKEN" demo:vnb $CLIENTS "$COUNT") || bl_die "etcd create failed"
	et+=("$(rate <<<"$r")"); bl_log "run $rep etcd: $r"
	r=$("$LOAD" etcd-put "$ETCD" $CLIENTS "$PUTS") || bl_die "raw etcd put failed"
	raw+=("$(rate <<<"$r")"); bl_log "run $rep etcd-raw: $r"
	r=$("$LOAD" create "$URL_SQLITE" "$TOKEN" demo:vnb $CLIENTS "$COUNT") || bl_die "sqlite create (two POSTs) failed"
	sq2+=("$(rate <<<"$r")"); bl_log "run $rep sqlite, two POSTs per pair: $r"
	r=$("$LOAD" create "$URL_ETCD" "$TOKEN" demo:vnb $CLIENTS "$COUNT") || bl_die "etcd create (two POSTs) failed"
	et2+=("$(rate <<<"$r")"); bl_log "run $rep etcd, two POSTs per pair: $r"
done
S=$(bl_median "${sq[@]}") E=$(bl_median "${et[@]}") R=$(bl_median "${raw[@]}")
S2=$(bl_median "${sq2[@]}") E2=$(bl_median "${et2[@]}")
bl_log "spread: sqlite $(bl_spread "${sq[@]}") etcd $(bl_spread "${et[@]}") raw $(bl_spread "${raw[@]}")"
bl_log "spread, two POSTs per pair: sqlite $(bl_spread "${sq2[@]}") etcd $(bl_spread "${et2[@]}")"
echo "bench api.create: tern-sqlite=$S tern-etcd=$E etcd-raw=$R ratio=$(bl_div "$E" "$R" %.3f)"
echo "bench api.create-posts: tern-sqlite=$S2 tern-etcd=$E2 etcd-raw=$R ratio=$(bl_div "$E2" "$R" %.3f)"

w=$("$LOAD" watch "$URL_ETCD" "$TOKEN" demo:vnb "$EVENTS") || bl_die "watch latency run failed"
bl_log "watch: $w"
echo "bench api.watch: p50=$(sed -n 's/.*p50=\([0-9.]*\).*/\1/p' <<<"$w") p99=$(sed -n 's/.*p99=\([0-9.]*\).*/\1/p' <<<"$w")"
w=$("$LOAD" watch "$URL_ETCD" "$TOKEN" demo:vnb "$EVENTS" "$URL_ETCD2") || bl_die "replica watch run failed"
bl_log "watch on the other replica: $w"
echo "bench api.watch-replica: p50=$(sed -n 's/.*p50=\([0-9.]*\).*/\1/p' <<<"$w") p99=$(sed -n 's/.*p99=\([0-9.]*\).*/\1/p' <<<"$w")"
