#!/usr/bin/env bash
# tests/e2e/bgp_addpath_move.sh — an ADD-PATH receiver keeps a route while
# tern-control's best path for it moves among copies with one next hop.
# The lab case: ctl3 had a cloud route from ctl2 only; ctl1's copy (same
# next hop, lower peer address: the new best) came later, and the agents
# (ADD-PATH receivers) got it under a new path id and the old id's
# withdrawal, which lost the route.
#   gobgpd A 10.0.0.3, B 10.0.0.4 (rr-clients) announce 65000:7:10.7.0.1/32
#   with the same next hop 10.0.0.9;            -- tern 10.0.0.1
#   R 10.0.0.5 (tests/e2e/bgp_aprecv.py): ADD-PATH receive, logs every NLRI
#   in the order it came.
# 1. B announces: R gets one path id.
# 2. A announces: A's path is the best (lower router id), B's is as good
#    with the same next hop: R keeps B's id, nothing is sent again.
# 3. B withdraws: the route moves to A's id; R must get it before the old
#    id's withdrawal (make before break), so it holds the route all along.
# 4. A withdraws: R holds nothing.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/bgplab.sh
BUILD=${BUILD:-build}
tl_init
bgp_lab_need
ns=$(tl_netns bgpmv)
for a in 10.0.0.1/32 10.0.0.3/32 10.0.0.4/32 10.0.0.5/32; do
	ip -n "$ns" addr add "$a" dev lo
done
SOCK=$TL_DIR/ctl.sock
{
	printf 'router-id 10.0.0.1\nas 65000\nlisten 10.0.0.1 179\nhold-time 30\nconnect-retry 1\n'
	printf 'startup-defer 0\ncontrol-socket %s\n' "$SOCK"
	for i in 3 4; do
		printf '\n[neighbor 10.0.0.%s]\nas 65000\nport 179%s\nlocal-address 10.0.0.1\n' "$i" "$i"
		printf 'families vpnv4\nrr-client\n'
	done
	printf '\n[neighbor 10.0.0.5]\nas 65000\npassive\nfamilies vpnv4\nrr-client\n'
} >"$TL_DIR/tern.conf"
bgp_gobgp_conf a 10.0.0.3 1793 l3vpn-ipv4-unicast
bgp_gobgp_conf b 10.0.0.4 1794 l3vpn-ipv4-unicast
api_port() { echo $((50150 + $(printf '%d' "'$1") - 96)); } # a: 50151, b: 50152
for n in a b; do
	tl_start "gobgpd-$n" "$ns" gobgpd -f "$TL_DIR/$n.toml" -t toml \
		--api-hosts "127.0.0.1:$(api_port "$n")"
done
tl_start tern-control "$ns" "$TC" -c "$TL_DIR/tern.conf" --log-level debug
TERN_PID=$TL_LAST_PID
RLOG=$TL_DIR/r.txt
: >"$RLOG"
tl_start aprecv "$ns" /usr/bin/python3 tests/e2e/bgp_aprecv.py --server 10.0.0.1 \
	--local 10.0.0.5 --as 65000 --out "$RLOG"
gb() { local n=$1; shift; ip netns exec "$ns" gobgp -u 127.0.0.1 -p "$(api_port "$n")" "$@"; }
for i in 3 4 5; do
	tl_wait "session with 10.0.0.$i Established" 40 established "10.0.0.$i"
done
tl_log "PASS three sessions Established"

KEY=65000:7:10.7.0.1/32
# scan held|lost: the path ids R holds for KEY after its log so far; or
# "lost" when, after the first announcement, R held none at some point
# before the last withdrawal in the log
scan() {
	/usr/bin/python3 - "$RLOG" "$KEY" "$1" <<'PY'
import sys
held, seen, gaps = set(), False, 0
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 3 or f[2] != sys.argv[2]:
        continue
    if f[0] == "A":
        held.add(f[1]); seen = True
    else:
        held.discard(f[1])
        gaps += seen and not held
print(" ".join(sorted(held)) if sys.argv[3] == "held" else ("lost" if gaps else ""))
PY
}
held() { scan held; }
n_ids() { [ "$(held | wc -w)" = "$1" ]; }
two_in_tern() {
	"$CTL" bgp rib -a vpnv4 --socket "$SOCK" -o json | /usr/bin/python3 -c '
import json, sys
r = [x for x in json.load(sys.stdin)["routes"] if x["prefix"] == "10.7.0.1/32"]
assert len(r) == 1 and len(r[0]["paths"]) == 2, r'
}

# 1. B first
gb b global rib -a vpnv4 add 10.7.0.1/32 label 70 rd 65000:7 rt 65000:7 nexthop 10.0.0.9 ||
	tl_fail "gobgp B: cannot add a route"
tl_wait "R: one path id" 20 n_ids 1
first=$(held)
tl_log "PASS R holds B's path: id $first"

# 2. A, the new best, same next hop: R keeps what it has
gb a global rib -a vpnv4 add 10.7.0.1/32 label 70 rd 65000:7 rt 65000:7 nexthop 10.0.0.9 ||
	tl_fail "gobgp A: cannot add a route"
tl_wait "tern: two paths" 20 two_in_tern
sleep 1
echo "R's log:"; sed 's/^/    /' "$RLOG"
[ -z "$(scan lost)" ] ||
	tl_fail "R held no path of $KEY between the old id's withdrawal and the new id"
[ "$(held)" = "$first" ] || tl_fail "R holds ids '$(held)', not '$first' as before"
grep "$KEY" "$RLOG" | grep -qv "^A $first " && tl_fail "R got another id or a withdrawal"
tl_log "PASS the best moved to A's copy: R keeps id $first, no other id, no withdrawal"

# 3. B goes: the route moves to A's id, announced before the old id's withdrawal
gb b global rib -a vpnv4 del 10.7.0.1/32 label 70 rd 65000:7 rt 65000:7 nexthop 10.0.0.9 ||
	tl_fail "gobgp B: cannot withdraw"
moved() { local h; h=$(held); [ "$(echo "$h" | wc -w)" = 1 ] && [ "$h" != "$first" ]; }
tl_wait "R: the path under A's id" 20 moved
sleep 0.5
echo "R's log:"; sed 's/^/    /' "$RLOG"
[ -z "$(scan lost)" ] ||
	tl_fail "R held no path of $KEY between the old id's withdrawal and the new id"
tl_log "PASS moved to id $(held) without a gap (announced before the old id's withdrawal)"

# 4. gone
gb a global rib -a vpnv4 del 10.7.0.1/32 label 70 rd 65000:7 rt 65000:7 nexthop 10.0.0.9 ||
	tl_fail "gobgp A: cannot withdraw"
tl_wait "R: nothing" 20 n_ids 0
tl_log "PASS withdrawn: R holds nothing"

kill -0 "$TERN_PID" || tl_fail "tern-control died"
tl_log "bgp_addpath_move: all checks passed"
