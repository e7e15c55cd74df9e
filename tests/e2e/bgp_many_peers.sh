#!/usr/bin/env bash
# tests/e2e/bgp_many_peers.sh — tern-control past the old limit of 63
# peers: 100 iBGP route-reflector clients (small speakers in one python
# process, tests/e2e/bgp_speakers.py, from 127.0.1.1 .. 127.0.1.100) all
# reach Established, and one IPv4 route from the first reaches the 99
# others (and not its sender). Then every speaker goes away and comes back
# without announcing: the route must be gone everywhere. In a namespace of
# its own.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
N=100
tl_init
[ -x "$TC" ] || tl_fail "no $TC: build first"
ns=$(tl_netns many)
SOCK=$TL_DIR/ctl.sock
STATUS=$TL_DIR/speakers.json

{
	printf 'router-id 10.0.0.1\nas 65000\nlisten 127.0.0.1 179\nhold-time 90\n'
	printf 'connect-retry 1\nstartup-defer 0\ncontrol-socket %s\n' "$SOCK"
	for i in $(seq 1 $N); do
		printf '\n[neighbor 127.0.1.%d]\nas 65000\npassive\nrr-client\n' "$i"
	done
} >"$TL_DIR/tern.conf"

tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf"
TERN_PID=$TL_LAST_PID
tl_wait "the control socket" 10 test -S "$SOCK"
tl_start speakers "$ns" /usr/bin/python3 tests/e2e/bgp_speakers.py --count $N \
	--local-base 127.0.1.1 --announce 0 --status "$STATUS"
SPK_PID=$TL_LAST_PID

tern_established() { # N: that many neighbors Established in tern-control
	"$CTL" bgp neighbors --socket "$SOCK" -o json | /usr/bin/python3 -c "
import json, sys
d = json.load(sys.stdin)
n = sum(x['state'] == 'Established' for x in d['neighbors'])
sys.exit(0 if n == $1 else 1)"
}
speakers() { # PYTHON-EXPRESSION over the status s
	[ -f "$STATUS" ] && /usr/bin/python3 -c "
import json, sys
s = json.load(open('$STATUS'))
sys.exit(0 if ($1) else 1)"
}
tl_wait "$N sessions Established in tern-control" 40 tern_established $N
tl_wait "$N speakers Established" 10 speakers "s['established'] == $N"
tl_log "PASS $N neighbors Established"

R=10.99.0.0/24
tl_wait "$R at the $((N - 1)) other speakers" 20 speakers \
	"all('$R' in s['got'].get(str(i), []) for i in range(1, $N))"
speakers "'$R' not in s['got'].get('0', [])" || tl_fail "$R was sent back to its sender"
tl_log "PASS $R from speaker 0 reached the $((N - 1)) others, not its sender"
"$CTL" bgp rib -a ipv4 --socket "$SOCK"

# The sender's session goes away: the route leaves every other peer.
"$CTL" bgp neighbors --socket "$SOCK" -o json | /usr/bin/python3 -c "
import json, sys
d = json.load(sys.stdin)
assert len(d['neighbors']) == $N, len(d['neighbors'])
assert all(x['flaps'] == 0 for x in d['neighbors']), 'a session flapped'" ||
	tl_fail "neighbor list: wrong count or a session flapped"
tl_stop "$SPK_PID"
tl_start speakers2 "$ns" /usr/bin/python3 tests/e2e/bgp_speakers.py --count $N \
	--local-base 127.0.1.1 --status "$STATUS.2"
STATUS=$STATUS.2
tl_wait "$N speakers Established again" 40 speakers "s['established'] == $N"
speakers "not any(s['got'].values())" || tl_fail "a route is left after its sender went away"
tl_log "PASS after the sessions came back, no route is left"

kill -0 "$TERN_PID" || tl_fail "tern-control died"
tl_log "bgp_many_peers: all checks passed"
