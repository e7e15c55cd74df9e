#!/usr/bin/env bash
# make test-fresh: the newcomer's path, for real. Builds (once, then cached as a tarball in
# /var/cache/tern-fresh) a fresh Debian 12 root with debootstrap --variant=minbase from this
# machine's Debian mirror, unpacks it, copies this clone's HEAD into /root/tern (or the
# working tree: FRESH_TREE=worktree), and runs in a chroot the lines of the README's
# "fresh Debian 12" block one by one, exactly as written (apt-get ... make git, make demo,
# make test). Prints each step's exit code and time and the result lines, then unmounts
# everything it mounted (also on failure and Ctrl-C) and removes the root.
# The make steps run under flock /tmp/tern-build.lock, taken here on the host: do not run
# this under that lock yourself. Needs root, debootstrap (installed with apt-get if
# missing) and Debian's mirror. Environment: FRESH_CACHE (default /var/cache/tern-fresh),
# FRESH_TREE=head|worktree, FRESH_KEEP=1 (keep the unpacked root, unmounted),
# FRESH_REBUILD=1 (debootstrap again).
set -u
cd "$(dirname "$0")/../.."
REPO=$PWD
CACHE=${FRESH_CACHE:-/var/cache/tern-fresh}
TARBALL=$CACHE/bookworm-minbase.tar.gz
LOCK=${TERN_BUILD_LOCK:-/tmp/tern-build.lock}
TREE=${FRESH_TREE:-head}
SUITE=bookworm

say() { printf 'test-fresh: %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot, mounts)"
mkdir -p "$CACHE/logs" || die "cannot create $CACHE"

# This machine's Debian mirror (the first active deb.debian.org-like URI of sources.list*)
mirror() {
	local m
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ')
	echo "${m:-http://deb.debian.org/debian}"
}
MIRROR=$(mirror); MIRROR=${MIRROR%/}

# ---- clean up whatever happens --------------------------------------------------------------
ROOT=$(mktemp -d /var/tmp/tern-fresh.XXXXXX)
LOG=$CACHE/logs/run-$(date +%Y%m%d-%H%M%S).log
ls -t "$CACHE"/logs/run-*.log 2>/dev/null | tail -n +10 | xargs -r rm -f   # the last ten logs
STAGE="" STATE=""

# mounts at or under a directory, deepest first
mounts_under() { findmnt -rn -o TARGET | awk -v r="$1" '$0 == r || index($0, r "/") == 1' | sort -r; }
descendants() { local c; for c in $(ps -o pid= --ppid "$1"); do descendants "$c"; echo "$c"; done; }
cleanup() {
	local rc=$? pid m left
	trap - EXIT INT TERM
	# this script's children (a step still waiting for the lock or running), then processes
	# still running in the root (daemons a failed step left behind): by PID
	for pid in $(descendants $$); do kill -TERM "$pid" 2>/dev/null; done
	for pid in $(ls /proc | grep -E '^[0-9]+$'); do
		[ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -TERM "$pid" 2>/dev/null
	done
	sleep 1
	for pid in $(ls /proc | grep -E '^[0-9]+$'); do
		[ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -KILL "$pid" 2>/dev/null
	done
	# deepest first: netns files and /run/netns under /run, /dev/pts and /dev/shm before /dev
	for m in $(mounts_under "$ROOT") ${STAGE:+$(mounts_under "$STAGE")}; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "cannot unmount $m"
	done
	[ -n "$STATE" ] && rm -rf "$STATE"
	# a debootstrap cut short
	[ -n "$STAGE" ] && [ -z "$(mounts_under "$STAGE")" ] && rm -rf --one-file-system "$STAGE"
	left=$(mounts_under "$ROOT")
	if [ -n "$left" ]; then
		say "STILL MOUNTED (root kept): $left"; rc=1
	elif [ "${FRESH_KEEP:-0}" = 1 ]; then
		say "findmnt: nothing mounted under $ROOT (kept)"
	else
		rm -rf --one-file-system "$ROOT"
		say "findmnt: nothing mounted under $ROOT (removed)"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

# ---- the cached root -------------------------------------------------------------------------
if [ ! -s "$TARBALL" ] || [ "${FRESH_REBUILD:-0}" = 1 ]; then
	command -v debootstrap >/dev/null || {
		say "installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
			die "cannot install debootstrap"
	}
	STAGE=$(mktemp -d "$CACHE/stage.XXXXXX")
	say "debootstrap --variant=minbase $SUITE from $MIRROR (log $CACHE/logs/debootstrap.log)"
	t0=$(date +%s)
	# in the background with `wait`, so that Ctrl-C or TERM reaches the trap at once
	debootstrap --variant=minbase "$SUITE" "$STAGE" "$MIRROR" >"$CACHE/logs/debootstrap.log" 2>&1 &
	wait $! || die "debootstrap failed, see $CACHE/logs/debootstrap.log"
	# what an installed Debian 12 has in its sources: updates and security too
	cat >"$STAGE/etc/apt/sources.list" <<-EOF
	deb $MIRROR $SUITE main
	deb $MIRROR $SUITE-updates main
	deb ${MIRROR}-security $SUITE-security main
	EOF
	rm -rf "$STAGE/var/cache/apt/archives/"*.deb "$STAGE/var/lib/apt/lists/"*_Packages
	chmod 755 "$STAGE"
	tar -C "$STAGE" -czf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL" ||
		die "cannot write $TARBALL"
	rm -rf --one-file-system "$STAGE"; STAGE=""
	say "root cached in $TARBALL ($(( $(date +%s) - t0 )) s)"
fi

# ---- unpack, mount --------------------------------------------------------------------------
say "unpacking $TARBALL into $ROOT"
tar -C "$ROOT" -xzf "$TARBALL" || die "cannot unpack $TARBALL"
chmod 755 "$ROOT"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"

mkdir -p "$ROOT/root/tern"
case $TREE in
head) git -C "$REPO" archive --format=tar HEAD | tar -C "$ROOT/root/tern" -xf - ||
	die "git archive HEAD failed"
	say "tree: HEAD $(git -C "$REPO" rev-parse --short HEAD)";;
worktree) git -C "$REPO" ls-files -z --cached --others --exclude-standard |
	(cd "$REPO" && tar --null -T - -cf - --ignore-failed-read 2>/dev/null) | tar -C "$ROOT/root/tern" -xf - ||
	die "copying the working tree failed"
	say "tree: working tree of $REPO (HEAD $(git -C "$REPO" rev-parse --short HEAD) + changes)";;
*) die "FRESH_TREE is head or worktree";;
esac

# / a mount point as on a machine (ip netns exec makes it a slave: "mount --make-rslave /"
# fails on a plain directory), its own /proc, /sys (with its cgroups for podman), /dev, /run
mount --bind "$ROOT" "$ROOT" && mount --make-private "$ROOT" || die "mount root"
mount -t proc proc "$ROOT/proc" || die "mount proc"
mount --rbind /sys "$ROOT/sys" && mount --make-rslave "$ROOT/sys" || die "mount sys"
mount --bind /dev "$ROOT/dev" && mount --make-slave "$ROOT/dev" || die "mount dev"
mount --bind /dev/pts "$ROOT/dev/pts" || die "mount dev/pts"
mount -t tmpfs -o mode=1777 shm "$ROOT/dev/shm" || die "mount dev/shm"
mount -t tmpfs -o mode=755 run "$ROOT/run" || die "mount run"

# ---- the README's lines ----------------------------------------------------------------------
# The sh block after "On a fresh Debian 12 machine": each line without its comment.
mapfile -t STEPS < <(awk '/fresh Debian 12 machine/ { f = 1 } f && /^```sh/ { b = 1; next }
	b && /^```/ { exit } b { sub(/[[:space:]]+#.*/, ""); if ($0 != "") print }' README.md)
[ ${#STEPS[@]} -ge 3 ] || die "no fresh-machine command block in README.md"
printf '%s\n' "${STEPS[@]}" | grep -qx 'make demo' && printf '%s\n' "${STEPS[@]}" | grep -qx 'make test' ||
	die "README's block lacks 'make demo' or 'make test'"

# One line in the root as root's login would run it; the make lines under the host's build
# lock (the time waiting for it is counted apart). In the background with `wait`, so that
# Ctrl-C or TERM reaches the trap at once (cleanup then stops what runs in the root by PID).
STATE=$(mktemp -d /tmp/tern-fresh-state.XXXXXX)
run_step() {
	local lock=()
	case $1 in make*) lock=(flock "$LOCK");; esac
	date +%s >"$STATE/start"
	"${lock[@]}" bash -c 'date +%s >"$0/locked"; "$@"; echo $? >"$0/rc"' "$STATE" \
		chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -c "cd /root/tern && $1" </dev/null 2>&1 | tee -a "$LOG"
}
declare -a RESULTS
overall=0
say "log: $LOG"
for step in "${STEPS[@]}"; do
	say "---- $step"
	rm -f "$STATE/rc" "$STATE/locked"
	run_step "$step" &
	wait $!
	t0=$(cat "$STATE/start")
	rc=$(cat "$STATE/rc" 2>/dev/null || echo 255)
	wait_s=$(( $(cat "$STATE/locked" 2>/dev/null || date +%s) - t0 ))
	secs=$(( $(date +%s) - t0 ))
	RESULTS+=("$(printf '%-60s exit %3d  %5d s (%d s waiting for the build lock)' "$step" "$rc" "$secs" "$wait_s")")
	[ "$rc" -eq 0 ] || overall=1
	# the README's lines are independent enough to go on after a failure (make test
	# reinstalls and rebuilds what make demo did not)
done

say "==== results (fresh Debian 12 chroot, log $LOG)"
printf '  %s\n' "${RESULTS[@]}"
# the demo's and the tests' failures, skips and final counts
grep -aE '^[0-9]+ passed, [0-9]+ failed|^FAIL|^skip |^make(\[[0-9]+\])?: \*\*\*' "$LOG" | sed 's/^/  /' | tail -60
[ "$overall" -eq 0 ] && say "PASS" || say "FAIL"
exit "$overall"
