# tests/lib/bgplab.sh — what the tern-control end-to-end tests share, on top
# of netns.sh: the checks for gobgpd and the daemon, the session state as
# tern-control reports it, and gobgpd's configuration.
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

# bgp_gobgp_conf NAME ADDR PORT AFISAFI...: writes $TL_DIR/NAME.toml, a gobgpd
# in AS 65000 at ADDR (its router id too), listening on PORT, with one iBGP
# neighbor, tern at 10.0.0.1:179, for these address families. Optional
# variables: GOBGP_ID (router id), GOBGP_PEER (tern's address); TOML lines
# put in as given: GOBGP_NB (in the neighbor's config), GOBGP_TRANSPORT (in
# its transport config), GOBGP_TABLES (tables of the neighbor), GOBGP_AFI
# (tables of each afi-safi).
bgp_gobgp_conf() {
	local name=$1 addr=$2 port=$3 f
	shift 3
	{
		printf '[global.config]\n  as = 65000\n  router-id = "%s"\n  port = %s\n' "${GOBGP_ID:-$addr}" "$port"
		printf '  local-address-list = ["%s"]\n' "$addr"
		printf '[[neighbors]]\n  [neighbors.config]\n    neighbor-address = "%s"\n    peer-as = 65000\n' \
			"${GOBGP_PEER:-10.0.0.1}"
		[ -z "${GOBGP_NB:-}" ] || printf '%s\n' "$GOBGP_NB"
		printf '  [neighbors.timers.config]\n    connect-retry = 1\n'
		printf '  [neighbors.transport.config]\n    local-address = "%s"\n    remote-port = 179\n' "$addr"
		[ -z "${GOBGP_TRANSPORT:-}" ] || printf '%s\n' "$GOBGP_TRANSPORT"
		[ -z "${GOBGP_TABLES:-}" ] || printf '%s\n' "$GOBGP_TABLES"
		for f in "$@"; do
			printf '  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = "%s"\n' "$f"
			[ -z "${GOBGP_AFI:-}" ] || printf '%s\n' "$GOBGP_AFI"
		done
	} >"$TL_DIR/$name.toml"
}
