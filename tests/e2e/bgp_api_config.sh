#!/usr/bin/env bash
# tests/e2e/bgp_api_config.sh — tern-control configured by tern-api, live,
# inside a namespace of its own:
#   tern-api 127.0.0.1:8082   bgp-router ctl1 (tern, 127.0.0.1), gw-a, gw-b
#   tern-control --api --name ctl1, listening on 127.0.0.1:179
#   gobgpd A 127.0.0.2:179 (gw-a names ctl1 in its peers)
#   gobgpd B 127.0.0.3:179 (ctl1 names gw-b in its peers, later)
# A's session comes up from tern-api alone; adding B, changing B (hold time:
# a reset) and removing B never flap A; B goes down with a Cease when
# removed; a virtual network becomes a routing instance that imports A's
# route by its target, a target change re-imports without touching A, the
# instance goes with the network; tern-api stopped: everything stays, and a
# change made after it is back is applied.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
tl_init
bgp_lab_need
API=$BUILD/api/tern-api
[ -x "$API" ] || tl_fail "no $API: build first"
command -v curl >/dev/null || tl_skip "no curl"
ns=$(tl_netns bgpapi)
SOCK=$TL_DIR/ctl.sock
TOKEN=e2e-bgp-api-token-0123456789
echo "$TOKEN admin name=e2e" >"$TL_DIR/tokens"
echo "$TOKEN" >"$TL_DIR/token"
chmod 600 "$TL_DIR/tokens" "$TL_DIR/token"
URL=http://127.0.0.1:8082

start_api() {
	tl_start "tern-api$1" "$ns" "$API" --db "$TL_DIR/api.db" --listen 127.0.0.1:8082 \
		--tokens "$TL_DIR/tokens" --log-level warn
	API_PID=$TL_LAST_PID
	tl_wait "tern-api" 20 ip netns exec "$ns" curl -sf "$URL/v1/health"
}

# api METHOD PATH [JSON]: the reply on stdout; fails the test on an HTTP error.
api() {
	local m=$1 p=$2 body=${3:-}
	local args=(-s -S -X "$m" -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}')
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
	local out code
	out=$(ip netns exec "$ns" curl "${args[@]}" "$URL$p") || tl_fail "$m $p: curl failed"
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	[ "${code:0:1}" = 2 ] || tl_fail "$m $p: HTTP $code: $out"
	printf '%s\n' "$out"
}
uuid_of() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])'; }


# The neighbor's field F (tern's view), "-" when it is not a neighbor.
nb_field() { # ADDRESS FIELD
	"$CTL" bgp neighbors --socket "$SOCK" -o json | /usr/bin/python3 -c "
import json, sys
n = [n for n in json.load(sys.stdin)['neighbors'] if n['address'] == '$1']
print(n[0]['$2'] if n else '-')"
}
gone() { [ "$(nb_field "$1" state)" = - ]; }
gb() { local port=$1; shift; ip netns exec "$ns" gobgp -u 127.0.0.1 -p "$port" "$@"; }
gobgp_established() { gb "$1" neighbor 127.0.0.1 | grep -q 'BGP state = established'; }
instance_json() { "$CTL" bgp instances --socket "$SOCK" -o json; }
has_instance() { instance_json | grep -q "\"$1\""; }
instance_rts() { # NAME: its import targets, comma-separated
	instance_json | /usr/bin/python3 -c "
import json, sys
i = [i for i in json.load(sys.stdin)['instances'] if i['name'] == '$1']
print(','.join(i[0]['import_targets']) if i else '-')"
}
in_instance() { # NAME PREFIX
	"$CTL" bgp rib -a ipv4 --instance "$1" --socket "$SOCK" -o json | grep -q "\"$2\""
}
flaps_above() { [ "$(nb_field "$1" flaps)" -gt "$2" ]; }
rts_are() { [ "$(instance_rts "$1")" = "$2" ]; }
no_instance() { ! has_instance "$1"; }
local_as() {
	"$CTL" bgp neighbors --socket "$SOCK" -o json |
		/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["as"])'
}
a_untouched() { # the session with A never went down
	[ "$(nb_field 127.0.0.2 flaps)" = 0 ] && [ "$(nb_field 127.0.0.2 state)" = Established ] ||
		tl_fail "the session with A flapped ($1)"
	local up; up=$(nb_field 127.0.0.2 uptime)
	[ "$up" -ge "$A_UP" ] || tl_fail "the session with A restarted ($1): uptime $up < $A_UP"
	A_UP=$up
	tl_log "PASS the session with A untouched ($1)"
}

start_api 0
api POST /v1/project '{"name":"demo"}' >/dev/null
CTL1=$(api POST /v1/bgp-router '{"name":"ctl1","address":"127.0.0.1","asn":65000,
	"router_type":"control-node","address_families":["inet","inet-vpn"]}' | uuid_of)
api POST /v1/bgp-router '{"name":"gw-a","address":"127.0.0.2","asn":65000,
	"router_type":"router","peers":["ctl1"]}' >/dev/null
GWB_BODY='{"name":"gw-b","address":"127.0.0.3","asn":65000,"router_type":"router"'
GWB=$(api POST /v1/bgp-router "$GWB_BODY}" | uuid_of)

cat >"$TL_DIR/tern.conf" <<CONF
# process settings only: tern-api gives the AS, router id, neighbors, instances
listen 127.0.0.1 179
hold-time 30
connect-retry 1
startup-defer 0
control-socket $SOCK
CONF
GOBGP_ID=10.0.0.2 GOBGP_PEER=127.0.0.1 bgp_gobgp_conf a 127.0.0.2 179 ipv4-unicast l3vpn-ipv4-unicast
GOBGP_ID=10.0.0.3 GOBGP_PEER=127.0.0.1 bgp_gobgp_conf b 127.0.0.3 179 ipv4-unicast l3vpn-ipv4-unicast
tl_start gobgpd-a "$ns" gobgpd -f "$TL_DIR/a.toml" -t toml --api-hosts 127.0.0.1:50061
tl_start gobgpd-b "$ns" gobgpd -f "$TL_DIR/b.toml" -t toml --api-hosts 127.0.0.1:50062
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --api "$URL" --name ctl1 \
	--token-file "$TL_DIR/token" --log-level debug
TERN_PID=$TL_LAST_PID

tl_wait "the session with A Established (from tern-api)" 40 established 127.0.0.2
tl_log "PASS the session with A (gw-a peers ctl1) Established"
[ "$(nb_field 127.0.0.2 router)" = gw-a ] || tl_fail "neighbor 127.0.0.2 is not bgp-router gw-a"
[ "$(nb_field 127.0.0.2 source)" = tern-api ] || tl_fail "neighbor 127.0.0.2 not from tern-api"
gone 127.0.0.3 || tl_fail "B is a neighbor before anything peers it"
[ "$(local_as)" = 65000 ] || tl_fail "tern-control did not take AS 65000 from bgp-router ctl1"
sleep 1
A_UP=$(nb_field 127.0.0.2 uptime)

# B: ctl1 names gw-b in its own peers.
CTL1_BODY='{"name":"ctl1","address":"127.0.0.1","asn":65000,"router_type":"control-node",
	"address_families":["inet","inet-vpn"]'
api PUT "/v1/bgp-router/$CTL1" "$CTL1_BODY,\"peers\":[\"gw-b\"]}" >/dev/null
tl_wait "the session with B Established" 40 established 127.0.0.3
tl_log "PASS a second peer (ctl1 peers gw-b) Established"
a_untouched "B added"

# B's hold time changes: its session is reset, A's is not.
B_FLAPS=$(nb_field 127.0.0.3 flaps)
api PUT "/v1/bgp-router/$GWB" "$GWB_BODY,\"hold_time\":60}" >/dev/null
tl_wait "B's session reset" 20 flaps_above 127.0.0.3 "$B_FLAPS"
tl_wait "B's session Established again" 40 established 127.0.0.3
grep -q 'peer 127.0.0.3: sent Cease / Other Configuration Change' "$TL_DIR/tern-control.log" ||
	tl_fail "B was not reset with Cease/Other Configuration Change (tern-control.log)"
tl_log "PASS a changed neighbor (hold time) reset and Established again"
a_untouched "B changed"

# B unpeered and deleted: its session goes down with a Cease.
api PUT "/v1/bgp-router/$CTL1" "$CTL1_BODY}" >/dev/null
tl_wait "B removed from tern's neighbors" 20 gone 127.0.0.3
grep -q 'peer 127.0.0.3: sent Cease / Peer De-configured' "$TL_DIR/tern-control.log" ||
	tl_fail "no Cease sent to B (tern-control.log)"
sleep 2
gobgp_established 50062 && tl_fail "gobgpd B still Established with tern"
api DELETE "/v1/bgp-router/$GWB" >/dev/null
tl_log "PASS a removed neighbor: Cease, session down, gone from ternctl bgp neighbors"
a_untouched "B removed"

# A virtual network becomes a routing instance; A's route with its target lands in it.
gb 50061 global rib -a vpnv4 add 10.2.0.0/24 label 200 rd 65000:100 rt 65000:100 \
	nexthop 127.0.0.2 || tl_fail "gobgp A: cannot add a vpnv4 route"
VN=$(api POST /v1/virtual-network '{"name":"blue","project":"demo",
	"route_target_import":["target:65000:100"],"route_target_export":["target:65000:100"]}' |
	uuid_of)
tl_wait "instance demo:blue" 20 has_instance demo:blue
tl_wait "A's route in instance demo:blue" 20 in_instance demo:blue 10.2.0.0/24
"$CTL" bgp instances --socket "$SOCK"
tl_log "PASS virtual network demo:blue is a routing instance with A's route (target 65000:100)"
a_untouched "instance added"

# Its import target changes: re-imported (the route leaves), no session touched.
api PUT "/v1/virtual-network/$VN" '{"name":"blue","project":"demo",
	"route_target_import":["target:65000:200"],"route_target_export":["target:65000:100"]}' \
	>/dev/null
tl_wait "demo:blue importing 65000:200" 20 rts_are demo:blue rt:65000:200
in_instance demo:blue 10.2.0.0/24 && tl_fail "A's route still in demo:blue after the target change"
tl_log "PASS an instance's import target changed: routes imported again"
a_untouched "instance changed"

# tern-api goes away: nothing changes, one line in the log; back: changes apply again.
api_warnings() { grep -c 'WARN tern-control tern-api ' "$TL_DIR/tern-control.log"; }
before=$(api_warnings)
tl_stop "$API_PID"
sleep 4 # several retries
n=$(( $(api_warnings) - before ))
[ "$n" = 1 ] || tl_fail "tern-api down: $n warnings in tern-control's log, want 1 (one per outage)"
has_instance demo:blue || tl_fail "instance demo:blue lost while tern-api is down"
a_untouched "tern-api down"
start_api 1
api DELETE "/v1/virtual-network/$VN" >/dev/null
tl_wait "instance demo:blue gone" 30 no_instance demo:blue
tl_log "PASS tern-api down: configuration kept (one log line); back: a deletion applied"
a_untouched "tern-api restarted"

kill -0 "$TERN_PID" 2>/dev/null || tl_fail "tern-control died"
tl_log "PASS bgp_api_config"
