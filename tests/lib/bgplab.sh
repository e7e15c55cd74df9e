# tests/lib/bgplab.sh — what the tern-control end-to-end tests share, on top
# of netns.sh: the checks for gobgpd and the daemon, and the session state
# as tern-control reports it.
#
#   source tests/lib/netns.sh; source tests/lib/bgplab.sh
#   tl_init; bgp_lab_need          # skip without gobgpd; sets BUILD, TC (tern-control), CTL
#   state_of 10.0.0.3              # Established, Active, ... (needs SOCK: the control socket)
#   tl_wait "session" 30 established 10.0.0.3
BUILD=${BUILD:-build}
TC=$BUILD/control/tern-control
CTL=$BUILD/ctl/ternctl

bgp_lab_need() {
	command -v gobgpd >/dev/null && command -v gobgp >/dev/null ||
		tl_skip "no gobgpd (Debian package gobgpd)"
	[ -x "$TC" ] || tl_fail "no $TC: build first"
}

# The FSM state tern-control reports for a neighbor address.
state_of() {
	"$CTL" bgp neighbors --socket "$SOCK" -o json | /usr/bin/python3 -c "
import json, sys
d = json.load(sys.stdin)
print([n['state'] for n in d['neighbors'] if n['address'] == '$1'][0])"
}
established() { [ "$(state_of "$1")" = Established ]; }
