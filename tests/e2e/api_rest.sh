#!/usr/bin/env bash
# tern-api as a process, on loopback at a free port, driven by ternctl and
# curl: create project / network / port / instance IP from YAML; bad input
# gets 400/413 naming the field; conflicts get 409 (duplicate, stale version,
# delete of a referenced object); 401/403 change nothing (the revision stays);
# a watch from a revision, cut by a restart of tern-api and resumed from the
# last event it saw, gets every event exactly once; 8 clients creating
# interfaces with instance IPs at once get no duplicate address. A tern-api
# keeping 5 events (--event-history 5) compacts its log in the background: a
# watch from before it gets 410 with the oldest revision kept, a watch from
# the floor gets every later event. 64 watches open at once cost no thread
# each and all get the next event.
# API_STORE=etcd (tests/e2e/api_rest_etcd.sh) runs all of it on an etcd this
# script starts on loopback, and then also two tern-api replicas on that one
# etcd: concurrent allocation through both, and a watch on one sees writes
# made through the other; and a tern-api whose etcd endpoint speaks only
# HTTP/1.1 (a proxy: no gRPC) works through the JSON gateway.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
tl_init

API=$BUILD/api/tern-api
CTL=$BUILD/ctl/ternctl
[ -x "$API" ] || tl_fail "no $API: build first (ninja -C $BUILD)"
command -v curl >/dev/null || tl_skip "no curl"

ADMIN=e2e-admin-token-0123456789
READER=e2e-reader-token-0123456789
DEMO=e2e-demo-token-0123456789
printf '%s admin name=op\n%s read-only name=dash\n%s admin project=demo name=demo-ci\n' \
	"$ADMIN" "$READER" "$DEMO" >"$TL_DIR/tokens"
chmod 600 "$TL_DIR/tokens"
DB=$TL_DIR/api.db
rm -f "$TL_DIR/port"
STORE=${API_STORE:-sqlite}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
case $STORE in
sqlite) STORE_ARGS=(--db "$DB") ;;
etcd)
	command -v etcd >/dev/null || tl_skip "etcd (apt-get install etcd-server etcd-client)"
	EP=$(free_port) PP=$(free_port)
	ETCD=http://127.0.0.1:$EP
	tl_start etcd "" etcd --name t --data-dir "$TL_DIR/etcd" --listen-client-urls "$ETCD" \
		--advertise-client-urls "$ETCD" --listen-peer-urls "http://127.0.0.1:$PP" \
		--initial-advertise-peer-urls "http://127.0.0.1:$PP" \
		--initial-cluster "t=http://127.0.0.1:$PP" --max-txn-ops 4096
	ETCD_PID=$TL_LAST_PID
	tl_wait "etcd on $ETCD" 20 curl -sf -X POST -d '{"key":"eA=="}' "$ETCD/v3/kv/range"
	tl_log "etcd pid $ETCD_PID on $ETCD"
	STORE_ARGS=(--store etcd --etcd-endpoints "$ETCD") ;;
*) tl_fail "API_STORE=$STORE: use sqlite or etcd" ;;
esac

start_api() { # start_api PORT
	rm -f "$TL_DIR/port"
	tl_start "api$N_START" "" "$API" "${STORE_ARGS[@]}" --listen "127.0.0.1:$1" \
		--tokens "$TL_DIR/tokens" --port-file "$TL_DIR/port"
	API_PID=$TL_LAST_PID
	N_START=$((N_START + 1))
	tl_wait "tern-api to listen" 10 test -s "$TL_DIR/port"
	PORT=$(cat "$TL_DIR/port")
	URL=http://127.0.0.1:$PORT
	tl_wait "tern-api health" 10 curl -sf "$URL/v1/health"
}
N_START=0
start_api 0
tl_log "tern-api pid $API_PID on port $PORT, store $STORE"
export TERN_API=$URL TERN_TOKEN=$ADMIN

# req METHOD PATH TOKEN [BODY|@FILE] -> prints "STATUS BODY"
req() {
	local m=$1 p=$2 tok=$3 body=${4:-}
	local args=(-s -o "$TL_DIR/resp" -w '%{http_code}' -X "$m")
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	local code; code=$(curl "${args[@]}" "$URL$p")
	echo "$code $(cat "$TL_DIR/resp")"
}
# expect STATUS FIELD TEXT METHOD PATH TOKEN [BODY]
expect() {
	local st=$1 field=$2 text=$3; shift 3
	local out; out=$(req "$@")
	[[ $out == "$st "* ]] || { echo "wanted $st, got: $out"; return 1; }
	[ -z "$field" ] || grep -qF "\"field\":\"$field\"" <<<"$out" || { echo "no field $field: $out"; return 1; }
	grep -qF -- "$text" <<<"$out" || { echo "no '$text' in: $out"; return 1; }
}
rev() { curl -sf "$URL/v1/health" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])'; }

# ---- create with ternctl from YAML -------------------------------------------
cat >"$TL_DIR/objs.yaml" <<'EOF'
kind: project
name: demo
---
kind: project
name: other
---
kind: virtual-network
name: vn1
project: demo
labels: {tier: web}
subnets:
  - cidr: 10.1.0.0/24
    allocation_pools: [{start: 10.1.0.10, end: 10.1.0.100}]
---
kind: vmi
name: pod1-eth0
project: demo
virtual_network: vn1
owner_type: pod
owner: default/pod1
interface_type: vhost-user
ifname: eth0
node: node1
---
kind: iip
name: pod1-eth0-v4
project: demo
virtual_network: vn1
virtual_machine_interface: pod1-eth0
EOF
out=$("$CTL" apply -f "$TL_DIR/objs.yaml" 2>&1) || tl_fail "apply: $out"
[ "$(grep -c created <<<"$out")" = 5 ] || tl_fail "apply: $out"
out=$("$CTL" apply -f "$TL_DIR/objs.yaml" 2>&1) || tl_fail "re-apply: $out"
[ "$(grep -c unchanged <<<"$out")" = 5 ] || tl_fail "re-apply should change nothing: $out"
tl_log "PASS applying the same file again changes nothing"
out=$("$CTL" get iip)
tl_check "instance IP allocated from the pool" grep -q '10.1.0.10 ' <<<"$out"
out=$("$CTL" get vmi demo:pod1-eth0 -o json)
tl_check "MAC assigned" grep -q '"mac": "02:74:65:00:00:00"' <<<"$out"
out=$("$CTL" get vn -l tier=web)
tl_check "label filter" grep -q 'demo:vn1 .*4096 .*10.1.0.0/24' <<<"$out"
VN=$("$CTL" get vn vn1 -p demo -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
VN_VER=$(curl -sf -H "Authorization: Bearer $ADMIN" "$URL/v1/virtual-network/$VN" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')

# ---- bad input: 400 / 413 naming the field ------------------------------------
B='"name":"vn2","project":"demo"'
tl_check "malformed JSON" expect 400 "" "malformed JSON" POST /v1/virtual-network "$ADMIN" '{"name":'
tl_check "wrong type" expect 400 vni "must be an integer" POST /v1/virtual-network "$ADMIN" "{$B,\"vni\":\"x\"}"
tl_check "unknown field" expect 400 colour "unknown field" POST /v1/virtual-network "$ADMIN" "{$B,\"colour\":1}"
tl_check "bad CIDR" expect 400 "subnets[0].cidr" "not a prefix" POST /v1/virtual-network "$ADMIN" "{$B,\"subnets\":[{\"cidr\":\"10.0.0.0/40\"}]}"
tl_check "overlapping subnets" expect 400 "subnets[1]" "overlaps" POST /v1/virtual-network "$ADMIN" "{$B,\"subnets\":[{\"cidr\":\"10.2.0.0/16\"},{\"cidr\":\"10.2.3.0/24\"}]}"
tl_check "bad MAC" expect 400 mac "not a MAC" POST /v1/virtual-machine-interface "$ADMIN" '{"name":"p2","project":"demo","virtual_network":"vn1","mac":"zz"}'
tl_check "address outside the subnet" expect 400 address "outside the subnets" POST /v1/instance-ip "$ADMIN" '{"name":"i2","project":"demo","virtual_network":"vn1","address":"10.9.0.1"}'
tl_check "dangling reference" expect 400 virtual_network "does not exist" POST /v1/virtual-machine-interface "$ADMIN" '{"name":"p2","project":"demo","virtual_network":"nope"}'
/usr/bin/python3 -c 'print("{\"name\":\"big\",\"project\":\"demo\",\"description\":\"" + "x"*300000 + "\"}")' >"$TL_DIR/big.json"
tl_check "oversized body" expect 413 "" "larger than" POST /v1/virtual-network "$ADMIN" "@$TL_DIR/big.json"

# ---- a batch: both objects in one transaction, or neither -----------------------------
BV='{"kind":"vmi","object":{"name":"pb-eth0","project":"demo","virtual_network":"vn1"}}'
BI='{"kind":"iip","object":{"name":"pb-eth0-v4","project":"demo","virtual_network":"vn1","virtual_machine_interface":"pb-eth0"}}'
rb=$(rev)
tl_check "batch: malformed JSON" expect 400 "" "malformed JSON" POST /v1/batch "$ADMIN" '{"create":['
tl_check "batch: duplicate key in an item" expect 400 "" "duplicate" POST /v1/batch "$ADMIN" \
	'{"create":[{"kind":"vmi","object":{"name":"pb-eth0","name":"x","project":"demo","virtual_network":"vn1"}}]}'
tl_check "batch: unknown field in the second item" expect 400 "create[1].colour" "unknown field" POST /v1/batch "$ADMIN" \
	"{\"create\":[$BV,{\"kind\":\"iip\",\"object\":{\"name\":\"pb-v4\",\"project\":\"demo\",\"virtual_network\":\"vn1\",\"colour\":1}}]}"
[ "$(rev)" = "$rb" ] || tl_fail "refused batches changed the revision ($rb -> $(rev))"
tl_check "batch: an interface and its address" expect 201 "" '"fq_name":"demo:pb-eth0-v4"' POST /v1/batch "$ADMIN" "{\"create\":[$BV,$BI]}"
[ "$(rev)" = "$((rb + 2))" ] || tl_fail "the batch should have written 2 revisions ($rb -> $(rev))"
tl_log "PASS /v1/batch: refused batches change nothing, a good one writes both"

# ---- conflicts: 409 ------------------------------------------------------------------
tl_check "duplicate name" expect 409 name "already exists" POST /v1/virtual-network "$ADMIN" '{"name":"vn1","project":"demo"}'
tl_check "address taken" expect 409 address "taken by instance-ip demo:pod1-eth0-v4" POST /v1/instance-ip "$ADMIN" '{"name":"i2","project":"demo","virtual_network":"vn1","address":"10.1.0.10"}'
tl_check "delete of a referenced network" expect 409 "" "referred to by" DELETE "/v1/virtual-network/$VN" "$ADMIN"
VNB='"name":"vn1","project":"demo","subnets":[{"cidr":"10.1.0.0/24","allocation_pools":[{"start":"10.1.0.10","end":"10.1.0.100"}]}]'
tl_check "update with the current version" expect 200 "" '"forwarding_mode":"l3"' PUT "/v1/virtual-network/$VN" "$ADMIN" "{$VNB,\"forwarding_mode\":\"l3\",\"version\":$VN_VER}"
tl_check "update with a stale version" expect 409 version "changed since you read it" PUT "/v1/virtual-network/$VN" "$ADMIN" "{$VNB,\"forwarding_mode\":\"l2\",\"version\":$VN_VER}"

# ---- authentication and authorisation: refused requests change nothing -------------
r0=$(rev)
tl_check "no token: 401" expect 401 "" "no token" POST /v1/virtual-network "" "{$B}"
tl_check "unknown token: 401" expect 401 "" "unknown token" DELETE "/v1/virtual-network/$VN" not-a-real-token-000000
tl_check "reads need a token too" expect 401 "" "no token" GET /v1/virtual-network ""
tl_check "read-only token cannot write: 403" expect 403 "" "read-only" POST /v1/virtual-network "$READER" "{$B}"
tl_check "read-only token reads" expect 200 "" '"demo:vn1"' GET /v1/virtual-network "$READER"
tl_check "project token, other project: 403" expect 403 project "cannot change objects of project other" POST /v1/virtual-network "$DEMO" '{"name":"x","project":"other"}'
tl_check "project token cannot delete projects: 403" expect 403 "" "cannot create, change or delete projects" POST /v1/project "$DEMO" '{"name":"third"}'
out=$(TERN_TOKEN=$READER "$CTL" delete iip demo:pod1-eth0-v4 2>&1); rc=$?
[ $rc = 1 ] && grep -q "read-only" <<<"$out" || tl_fail "ternctl with a read-only token: rc=$rc $out"
out=$(TERN_TOKEN= "$CTL" get vn 2>&1); rc=$?
[ $rc = 1 ] && grep -q "give a token" <<<"$out" || tl_fail "ternctl without a token: rc=$rc $out"
[ "$(rev)" = "$r0" ] || tl_fail "refused requests changed the revision ($r0 -> $(rev))"
tl_log "PASS 401/403 changed nothing (revision $r0)"
tl_check "project token writes its own project" expect 201 "" '"fq_name":"demo:vn-ci"' POST /v1/virtual-network "$DEMO" '{"name":"vn-ci","project":"demo"}'

# ---- watch across a restart ---------------------------------------------------------
W0=$(rev)
tl_start watch1 "" curl -sN -H "Authorization: Bearer $ADMIN" "$URL/v1/watch?since=$W0"
W1_PID=$TL_LAST_PID
sleep 0.3
"$CTL" apply -f - >/dev/null <<'EOF' || tl_fail "apply w1"
kind: vmi
name: w1
project: demo
virtual_network: vn1
---
kind: vmi
name: w2
project: demo
virtual_network: vn1
EOF
tl_wait "watch1 to see two events" 10 test "$(grep -c '^id: ' "$TL_DIR/watch1.log")" -ge 2
tl_stop "$API_PID"
tl_wait "watch1 to end with tern-api" 10 bash -c "! kill -0 $W1_PID 2>/dev/null"
LAST=$(grep '^id: ' "$TL_DIR/watch1.log" | tail -1 | cut -d' ' -f2)
start_api "$PORT"
tl_log "tern-api restarted (pid $API_PID); watch resumes from $LAST"
# one write before the watcher is back, one after
"$CTL" delete vmi demo:w1 >/dev/null || tl_fail "delete w1"
tl_start watch2 "" curl -sN -H "Authorization: Bearer $ADMIN" -H "Last-Event-ID: $LAST" "$URL/v1/watch"
sleep 0.3
"$CTL" delete vmi demo:w2 >/dev/null || tl_fail "delete w2"
FINAL=$(rev)
tl_wait "watch2 to reach revision $FINAL" 10 grep -q "^id: $FINAL\$" "$TL_DIR/watch2.log"
got=$(cat "$TL_DIR/watch1.log" "$TL_DIR/watch2.log" | grep '^id: ' | cut -d' ' -f2 | tr '\n' ' ')
want=$(seq $((W0 + 1)) "$FINAL" | tr '\n' ' ')
[ "$got" = "$want" ] || tl_fail "watch across the restart: got revisions [$got], wanted [$want]"
tl_log "PASS watch across a restart: revisions $want each once"
grep -q '^event: DELETED' "$TL_DIR/watch2.log" || tl_fail "watch2 has no DELETED event"

# ---- event log compaction: 410 and the oldest revision kept --------------------------
case $STORE in
sqlite) HIST_ARGS=(--db "$TL_DIR/hist.db") ;;
etcd) HIST_ARGS=("${STORE_ARGS[@]}" --etcd-prefix hist/) ;;
esac
rm -f "$TL_DIR/hport"
tl_start api_hist "" "$API" "${HIST_ARGS[@]}" --listen 127.0.0.1:0 --tokens "$TL_DIR/tokens" \
	--port-file "$TL_DIR/hport" --event-history 5
HIST_PID=$TL_LAST_PID
tl_wait "tern-api --event-history 5" 10 test -s "$TL_DIR/hport"
HURL=http://127.0.0.1:$(cat "$TL_DIR/hport")
tl_wait "its health" 10 curl -sf "$HURL/v1/health"
for i in $(seq 1 12); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
		--data-binary "{\"name\":\"h$i\"}" "$HURL/v1/project")
	[ "$code" = 201 ] || tl_fail "create project h$i: $code"
done
hwatch() { curl -s --max-time 1 -o "$TL_DIR/hw.out" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$@"; }
tl_wait "the log to be compacted to 5 events" 10 bash -c \
	"[ \"\$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $ADMIN' '$HURL/v1/watch?since=6')\" = 410 ]"
code=$(hwatch "$HURL/v1/watch?since=1")
[ "$code" = 410 ] || tl_fail "watch from 1 after compaction: $code $(cat "$TL_DIR/hw.out")"
/usr/bin/python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["error"]
assert e["status"] == 410 and e["field"] == "since", e
assert e["oldest_revision"] == 8, e
assert "list the objects again" in e["message"], e
' "$TL_DIR/hw.out" || tl_fail "the 410: $(cat "$TL_DIR/hw.out")"
code=$(hwatch -H "Last-Event-ID: 3" "$HURL/v1/watch")
[ "$code" = 410 ] && grep -q '"field":"Last-Event-ID"' "$TL_DIR/hw.out" ||
	tl_fail "resume from Last-Event-ID 3: $code $(cat "$TL_DIR/hw.out")"
hwatch "$HURL/v1/watch?since=7" >/dev/null
got=$(grep '^id: ' "$TL_DIR/hw.out" | cut -d' ' -f2 | tr '\n' ' ')
[ "$got" = "8 9 10 11 12 " ] || tl_fail "watch from the floor (7): got [$got], wanted [8 9 10 11 12 ]"
# a list, then a watch from its revision: the way back after a 410
LREV=$(curl -sf -H "Authorization: Bearer $ADMIN" "$HURL/v1/project" |
	/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["revision"]) if len(d["items"]) == 12 else sys.exit(1)') ||
	tl_fail "list after compaction"
code=$(hwatch "$HURL/v1/watch?since=$LREV")
[ "$code" = 200 ] || tl_fail "watch from the list's revision $LREV: $code"
tl_stop "$HIST_PID"
tl_log "PASS compaction: keeps 5 events, 410 naming revision 8 below them, list + watch works"

# ---- a second replica (etcd): writes through one are seen through the other ----
URLS=("$URL")
if [ "$STORE" = etcd ]; then
	rm -f "$TL_DIR/port"
	tl_start apiB "" "$API" "${STORE_ARGS[@]}" --listen 127.0.0.1:0 --tokens "$TL_DIR/tokens" \
		--port-file "$TL_DIR/port"
	tl_wait "replica B to listen" 10 test -s "$TL_DIR/port"
	URLB=http://127.0.0.1:$(cat "$TL_DIR/port")
	tl_wait "replica B health" 10 curl -sf "$URLB/v1/health"
	URLS+=("$URLB")
	W0=$(rev)
	tl_start watchA "" curl -sN -H "Authorization: Bearer $ADMIN" "$URL/v1/watch?since=$W0"
	sleep 0.3
	printf 'kind: vmi\nname: via-b\nproject: demo\nvirtual_network: vn1\n' >"$TL_DIR/viab.yaml"
	out=$("$CTL" apply --api "$URLB" -f "$TL_DIR/viab.yaml" 2>&1) || tl_fail "apply through replica B: $out"
	RB=$(curl -sf "$URLB/v1/health" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])')
	[ "$RB" = $((W0 + 1)) ] || tl_fail "replica B wrote revision $RB, wanted $((W0 + 1))"
	tl_wait "replica A's watch to see the write through B" 5 grep -q "^id: $RB\$" "$TL_DIR/watchA.log"
	grep -q '"name":"via-b"' "$TL_DIR/watchA.log" || tl_fail "watch on A: no via-b object"
	out=$("$CTL" get vmi demo:via-b 2>&1) || tl_fail "replica A does not see via-b: $out"
	tl_log "PASS replica A's watch and reads see a write made through replica B (rev $RB)"

	# the store writes through etcd's gRPC service; through something that
	# speaks only HTTP/1.1 (here a plain proxy to etcd's JSON gateway) it
	# falls back to the gateway and works the same
	cat >"$TL_DIR/h1proxy.py" <<'PY'
import http.server, sys, urllib.error, urllib.request
up = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            r = urllib.request.urlopen(urllib.request.Request(up + self.path, data=body,
                headers={"Content-Type": "application/json"}), timeout=5)
            code, data = r.status, (r.read() if not self.path.startswith("/v3/watch") else b"")
        except urllib.error.HTTPError as e:
            code, data = e.code, e.read()
        except Exception:
            code, data = 502, b""
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
	PXP=$(free_port)
	tl_start h1proxy "" /usr/bin/python3 "$TL_DIR/h1proxy.py" "$PXP" "$ETCD"
	PX_PID=$TL_LAST_PID
	tl_wait "the HTTP/1.1 proxy" 10 curl -sf -X POST -d '{"key":"eA=="}' "http://127.0.0.1:$PXP/v3/kv/range"
	rm -f "$TL_DIR/pport"
	tl_start api_px "" "$API" --store etcd --etcd-endpoints "http://127.0.0.1:$PXP" --etcd-prefix px/ \
		--listen 127.0.0.1:0 --tokens "$TL_DIR/tokens" --port-file "$TL_DIR/pport"
	APX_PID=$TL_LAST_PID
	tl_wait "tern-api behind the proxy" 10 test -s "$TL_DIR/pport"
	PURL=http://127.0.0.1:$(cat "$TL_DIR/pport")
	code=$(curl -s -o "$TL_DIR/px.out" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
		--data-binary '{"name":"behind-proxy"}' "$PURL/v1/project")
	[ "$code" = 201 ] || tl_fail "create through the HTTP/1.1-only path: $code $(cat "$TL_DIR/px.out")"
	curl -sf -H "Authorization: Bearer $ADMIN" "$PURL/v1/project" | grep -q '"behind-proxy"' ||
		tl_fail "read back through the HTTP/1.1-only path"
	tl_stop "$APX_PID"
	tl_stop "$PX_PID"
	tl_log "PASS an etcd endpoint without gRPC (HTTP/1.1 proxy): the store uses the JSON gateway"
fi

# ---- 8 clients at once: no duplicate address ----------------------------------------
N_CLIENTS=8 PER_CLIENT=10
tl_check "create vnc" expect 201 "" '"cidr":"10.3.0.0/24"' POST /v1/virtual-network "$ADMIN" \
	'{"name":"vnc","project":"demo","subnets":[{"cidr":"10.3.0.0/24"}]}'
client() { # client N BASE_URL: PER_CLIENT interfaces, each with an instance IP
	local n=$1 base=$2 j code kind body
	for j in $(seq 1 $PER_CLIENT); do
		for kind in virtual-machine-interface instance-ip; do
			if [ $kind = instance-ip ]; then
				body="{\"name\":\"c$n-$j-v4\",\"project\":\"demo\",\"virtual_network\":\"vnc\",\"virtual_machine_interface\":\"c$n-$j\"}"
			else
				body="{\"name\":\"c$n-$j\",\"project\":\"demo\",\"virtual_network\":\"vnc\"}"
			fi
			code=$(curl -s -o "$TL_DIR/c$n.resp" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
				-H 'Content-Type: application/json' --data-binary "$body" "$base/v1/$kind")
			[ "$code" = 201 ] || { echo "client $n: $kind $j: $code $(cat "$TL_DIR/c$n.resp")"; return 1; }
		done
	done
}
pids=()
for n in $(seq 1 $N_CLIENTS); do
	client "$n" "${URLS[$((n % ${#URLS[@]}))]}" >"$TL_DIR/client$n.log" 2>&1 &
	pids+=($!)
done
for n in $(seq 1 $N_CLIENTS); do
	wait "${pids[$((n - 1))]}" || tl_fail "concurrent client $n: $(cat "$TL_DIR/client$n.log")"
done
curl -sf -H "Authorization: Bearer $ADMIN" "$URL/v1/instance-ip" >"$TL_DIR/iips.json" ||
	tl_fail "list instance IPs"
/usr/bin/python3 -c '
import collections, json, sys
items = [i for i in json.load(open(sys.argv[1]))["items"] if i["virtual_network"] == "demo:vnc"]
addrs = collections.Counter(i["address"] for i in items)
dups = [a for a, n in addrs.items() if n > 1]
if len(items) != int(sys.argv[2]) or dups:
    sys.exit(f"{len(items)} instance IPs (wanted {sys.argv[2]}), duplicates: {dups}")
' "$TL_DIR/iips.json" $((N_CLIENTS * PER_CLIENT)) || tl_fail "concurrent allocation"
tl_log "PASS $N_CLIENTS clients through ${#URLS[@]} tern-api at once: $((N_CLIENTS * PER_CLIENT)) addresses, no duplicate"

# ---- etcd stopped: a write gets a 500 that names the endpoint; restarted: writes work ----
if [ "$STORE" = etcd ]; then
	tl_stop "$ETCD_PID"
	down=$(req POST /v1/project "$ADMIN" '{"name":"while-down"}')
	[[ $down == "500 "* ]] && grep -qF "127.0.0.1:$EP" <<<"$down" ||
		tl_fail "a write with etcd stopped: wanted a 500 naming $ETCD, got: $down"
	tl_start etcd-again "" etcd --name t --data-dir "$TL_DIR/etcd" --listen-client-urls "$ETCD" \
		--advertise-client-urls "$ETCD" --listen-peer-urls "http://127.0.0.1:$PP" \
		--initial-advertise-peer-urls "http://127.0.0.1:$PP" \
		--initial-cluster "t=http://127.0.0.1:$PP" --max-txn-ops 4096
	ETCD_PID=$TL_LAST_PID
	tl_wait "etcd to answer again" 20 curl -sf -X POST -d '{"key":"eA=="}' "$ETCD/v3/kv/range"
	tl_wait "a write once etcd is back" 20 expect 201 "" while-down POST /v1/project "$ADMIN" \
		'{"name":"while-down"}'
	out=$("$CTL" get vmi demo:via-b 2>&1) || tl_fail "after etcd's restart, an earlier object is gone: $out"
	tl_log "PASS etcd stopped: $(cut -c1-200 <<<"$down"); restarted: writes again, nothing lost"
fi

# ---- 64 watches and writes on one thread -------------------------------------------------
# tern-api serves every connection from one loop (idle watches suspended): 64 open watches
# cost no thread each, all of them get the next write's event, and writes go on meanwhile.
N_WATCH=64
WREV=$(rev)
wpids=()
for n in $(seq 1 $N_WATCH); do
	tl_start "mw$n" "" curl -sN -H "Authorization: Bearer $ADMIN" "$URL/v1/watch?kind=project&since=$WREV"
	wpids+=("$TL_LAST_PID")
done
tl_wait "$N_WATCH watches to open" 10 bash -c \
	"[ \$(grep -l 'watch from revision' $TL_DIR/mw*.log 2>/dev/null | wc -l) -ge $N_WATCH ]"
threads=$(awk '/^Threads:/ {print $2}' "/proc/$API_PID/status")
[ "$threads" -le 12 ] || tl_fail "tern-api has $threads threads with $N_WATCH watches open (one loop expected)"
tl_check "a write with $N_WATCH watches open" expect 201 "" many-watches POST /v1/project "$ADMIN" \
	'{"name":"many-watches"}'
tl_wait "every watch to get the event" 10 bash -c \
	"[ \$(grep -l '\"name\":\"many-watches\"' $TL_DIR/mw*.log | wc -l) -ge $N_WATCH ]"
for p in "${wpids[@]}"; do tl_stop "$p"; done
tl_log "PASS $N_WATCH watches on $threads threads in all: each got the write's event"

# ---- TLS ----------------------------------------------------------------------------------
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TL_DIR/key.pem" -out "$TL_DIR/cert.pem" \
		-days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null ||
		tl_fail "openssl could not make a certificate"
	rm -f "$TL_DIR/tport"
	tl_start api_tls "" "$API" --db "$TL_DIR/tls.db" --listen 127.0.0.1:0 --tokens "$TL_DIR/tokens" \
		--port-file "$TL_DIR/tport" --tls-cert "$TL_DIR/cert.pem" --tls-key "$TL_DIR/key.pem"
	tl_wait "tern-api with TLS" 10 test -s "$TL_DIR/tport"
	TURL=https://127.0.0.1:$(cat "$TL_DIR/tport")
	tl_wait "https health" 10 curl -sf --cacert "$TL_DIR/cert.pem" "$TURL/v1/health"
	echo '{"kind":"project","name":"secure"}' | "$CTL" apply -f - --api "$TURL" \
		--cacert "$TL_DIR/cert.pem" >/dev/null || tl_fail "ternctl apply over https"
	out=$("$CTL" get proj --api "$TURL" 2>&1); rc=$?
	[ $rc = 1 ] && grep -q -- "--cacert" <<<"$out" || tl_fail "https without the CA: rc=$rc $out"
	tl_log "PASS TLS: served with a certificate, ternctl verifies it"
else
	tl_log "no openssl: TLS not checked"
fi
tl_log "all api_rest checks passed"
