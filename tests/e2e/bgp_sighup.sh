#!/usr/bin/env bash
# tests/e2e/bgp_sighup.sh — SIGHUP makes tern-control read its file again
# and apply what changed, as a tern-api change is applied:
# 1. a neighbour and an instance added to the file: after kill -HUP (by
#    PID) the new neighbour comes up and the instance is there (importing
#    its own originated route), while the session that did not change stays
#    up (same flap count, uptime still counting);
# 2. a broken file: refused with one log line naming file:line and the
#    problem; sessions and instances stay as they are;
# 3. the neighbour taken out again: its session stops, the other stays.
# Speakers: tests/e2e/bgp_speakers.py (127.0.1.1 configured from the start,
# 127.0.1.2 refused until the reload adds it). In a namespace of its own.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
tl_init
[ -x "$TC" ] || tl_fail "no $TC: build first"
ns=$(tl_netns hup)
SOCK=$TL_DIR/ctl.sock
STATUS=$TL_DIR/speakers.json
CONF=$TL_DIR/tern.conf

base_conf() {
	cat <<CONFEOF
router-id 10.0.0.1
as 65000
listen 127.0.0.1 179
hold-time 90
connect-retry 1
startup-defer 0
control-socket $SOCK

[neighbor 127.0.1.1]
as 65000
passive
rr-client

[instance red]
import-target 65000:1
CONFEOF
}
added_conf() {
	base_conf
	cat <<'CONFEOF'

[neighbor 127.0.1.2]
as 65000
passive
rr-client

[instance blue]
rd 65000:20
import-target 65000:2
export-target 65000:2
route 10.20.0.0/24 label 1000 next-hop 10.0.0.1
CONFEOF
}
base_conf >"$CONF"

tl_start tern-control "$ns" "$TC" -c "$CONF"
TERN_PID=$TL_LAST_PID
LOG=$TL_DIR/tern-control.log
tl_wait "the control socket" 10 test -S "$SOCK"
tl_start speakers "$ns" /usr/bin/python3 tests/e2e/bgp_speakers.py --count 2 \
	--local-base 127.0.1.1 --status "$STATUS"

nb() { # ADDRESS FIELD: a field of tern-control's neighbor entry ("" when none)
	"$CTL" bgp neighbors --socket "$SOCK" -o json | /usr/bin/python3 -c "
import json, sys
d = json.load(sys.stdin)
v = [n.get('$2') for n in d['neighbors'] if n['address'] == '$1']
print(v[0] if v else '')"
}
is_up() { [ "$(nb "$1" state)" = Established ]; }
instances() {
	"$CTL" bgp instances --socket "$SOCK" -o json | /usr/bin/python3 -c "
import json, sys
d = json.load(sys.stdin)
print(' '.join(sorted('%s:%d' % (i['name'], i['routes']) for i in d['instances'])))"
}

tl_wait "127.0.1.1 Established" 20 is_up 127.0.1.1
[ -z "$(nb 127.0.1.2 state)" ] || tl_fail "127.0.1.2 is a neighbor before the reload"
sleep 2   # so that an uptime reset would show
up0=$(nb 127.0.1.1 uptime)
flaps0=$(nb 127.0.1.1 flaps)
tl_log "before: 127.0.1.1 uptime ${up0}s, flaps $flaps0; instances: $(instances)"

# 1. add a neighbour and an instance
added_conf >"$CONF"
kill -HUP "$TERN_PID"
tl_wait "127.0.1.2 Established after SIGHUP" 20 is_up 127.0.1.2
has_blue() { [ "$(instances)" = "blue:1 red:0" ]; }
tl_wait "instance blue with its route" 10 has_blue
[ "$(nb 127.0.1.1 flaps)" = "$flaps0" ] || tl_fail "127.0.1.1 flapped on the reload"
up1=$(nb 127.0.1.1 uptime)
[ "$up1" -ge "$up0" ] || tl_fail "127.0.1.1 uptime went back ($up0 -> $up1): session reset"
is_up 127.0.1.1 || tl_fail "127.0.1.1 is not Established after the reload"
grep -q "peer 127.0.1.2: added to the configuration" "$LOG" ||
	tl_fail "no log line for the new neighbor"
grep -q "instance blue: added" "$LOG" || tl_fail "no log line for the new instance"
grep -q "reload $CONF: neighbors 1 new, 0 removed, 0 reset; instances 1 new" "$LOG" ||
	tl_fail "no summary line for the reload"
tl_log "PASS SIGHUP added 127.0.1.2 and instance blue; 127.0.1.1 untouched (uptime $up0 -> ${up1}s)"

# 2. a broken file is refused, everything stays
{ added_conf; printf '\n[neighbor 127.0.1.3]\nas 65000\nbogus-key 1\n'; } >"$CONF"
line=$(grep -n bogus-key "$CONF" | cut -d: -f1)
kill -HUP "$TERN_PID"
refused() {
	grep -q "reload refused, the running configuration stays: $CONF:$line: unknown key 'bogus-key'" "$LOG"
}
tl_wait "the refusal in the log" 10 refused
[ "$(grep -c 'reload refused' "$LOG")" = 1 ] || tl_fail "more than one line for the refusal"
[ -z "$(nb 127.0.1.3 state)" ] || tl_fail "the broken file's neighbor was added"
is_up 127.0.1.1 && is_up 127.0.1.2 || tl_fail "a session went down on the broken file"
[ "$(nb 127.0.1.1 flaps)" = "$flaps0" ] && [ "$(nb 127.0.1.2 flaps)" = 0 ] ||
	tl_fail "a session flapped on the broken file"
[ "$(instances)" = "blue:1 red:0" ] || tl_fail "instances changed on the broken file: $(instances)"
tl_log "PASS a broken file is refused with file:line, nothing changes"

# 3. the added neighbour and instance taken out again
base_conf >"$CONF"
kill -HUP "$TERN_PID"
gone() { [ -z "$(nb 127.0.1.2 state)" ]; }
tl_wait "127.0.1.2 removed" 10 gone
[ "$(instances)" = "red:0" ] || tl_fail "instance blue still there: $(instances)"
is_up 127.0.1.1 && [ "$(nb 127.0.1.1 flaps)" = "$flaps0" ] ||
	tl_fail "127.0.1.1 reset on removal"
tl_log "PASS 127.0.1.2 and blue removed on SIGHUP, 127.0.1.1 untouched"

kill -0 "$TERN_PID" || tl_fail "tern-control died"
tl_log "bgp_sighup: all checks passed"
