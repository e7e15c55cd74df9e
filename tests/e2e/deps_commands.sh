#!/usr/bin/env bash
# Static check, no process started: every external command that the Makefile, the test
# driver and libraries, the e2e tests, the lab (tests/), fuzz/run and bench/ call is
# installed by `make deps` — it comes from a package of the Makefile's DEPS (BENCH_DEPS too
# for bench/) or from one of their dependencies — or is on every Debian 12 (a package that
# is Essential or Priority required). So a new command in a test fails here, naming the
# command and the package to add to DEPS, instead of on a newcomer's fresh machine
# (`make test-fresh` proves that path for real, slowly).
# A command is any word of those files (comments dropped) that names an executable in
# /usr/sbin:/usr/bin:/sbin:/bin, or an absolute path to an executable (/usr/lib/frr/bgpd);
# words that are also commands but are not run as one are listed in NOT_COMMANDS. A command
# not installed on this machine cannot be looked up and is not checked.
set -u
cd "$(dirname "$0")/../.."
command -v dpkg-query >/dev/null && [ -d /var/lib/dpkg/info ] || { echo "no dpkg on this machine"; exit 77; }
command -v make >/dev/null || { echo "no make on this machine"; exit 77; }

# Words of the scanned files that name a command but are not run as one (in messages,
# configs, Python code or variable names).
NOT_COMMANDS=" as cpp file init node pc red route time write xxd zip "
# Installed by the newcomer before anything else: the README's first line.
PREREQUISITES=" make git "

mkvar() { make -s --no-print-directory -f Makefile --eval="print-var: ; @echo \$($1)" print-var; }
DEPS=$(mkvar DEPS)
BENCH_DEPS=$(mkvar BENCH_DEPS)
[ -n "$DEPS" ] || { echo "FAIL: cannot read DEPS from the Makefile"; exit 1; }

tmp=$(mktemp -d /tmp/deps_commands.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# words and absolute paths of some files, comments dropped
words() {
	sed -e 's/^[[:space:]]*#.*//' -e 's/[[:space:]]#.*//' "$@" |
		grep -oE '(/[A-Za-z0-9_.+-]+)+|[A-Za-z0-9_.+-]+' | grep -E '^[/A-Za-z]' | sort -u
}
# "command path" for each word that is one
resolve() {
	local w d
	while IFS= read -r w; do
		case $w in
		/usr/*|/bin/*|/sbin/*|/lib/*) [ -f "$w" ] && [ -x "$w" ] && echo "$w $w";;
		/*) ;;
		*) case "$NOT_COMMANDS$PREREQUISITES" in *" $w "*) continue;; esac
		   for d in /usr/sbin /usr/bin /sbin /bin; do
			[ -f "$d/$w" ] && [ -x "$d/$w" ] && { echo "$w $d/$w"; break; }
		   done;;
		esac
	done
}
# (tests/fresh/ is left out: it runs on the host that makes the fresh root, and installs
# debootstrap itself)
words Makefile tests/run fuzz/run $(find tests -name '*.sh' -not -path 'tests/fresh/*') |
	resolve | sed 's/$/ main/' >"$tmp/cmds"
words $(find bench -maxdepth 1 \( -name '*.sh' -o -name run \)) |
	resolve | sed 's/$/ bench/' >>"$tmp/cmds"

# Every name dpkg may know a path by: as written, through symlinks (alternatives), with or
# without /usr (merged /usr: iproute2 owns /bin/ip, not /usr/bin/ip).
while read -r cmd p where; do
	r=$(readlink -f "$p")
	echo "$cmd $p $where $p ${p#/usr} /usr$p $r ${r#/usr} /usr$r"
done <"$tmp/cmds" >"$tmp/cands"
tr ' ' '\n' <"$tmp/cands" | grep '^/' | sort -u >"$tmp/paths"
# owner of each path, straight from dpkg's file lists (dpkg-query -S is 100 times slower)
grep -xF -f "$tmp/paths" /var/lib/dpkg/info/*.list |
	sed -E 's|^/var/lib/dpkg/info/([^:/]+)(:[a-z0-9]+)?\.list:|\1 |' >"$tmp/owners"
# installed packages: name, essential/required, dependencies
dpkg-query -W -f='${Package}\t${Essential} ${Priority}\t${Pre-Depends}, ${Depends}\n' >"$tmp/pkgs"

awk -v deps="$DEPS" -v bdeps="$BENCH_DEPS" '
FILENAME == ARGV[1] { owner[$2] = $1; next }
FILENAME == ARGV[2] {
	split($0, f, "\t")
	if (f[2] ~ /^yes / || f[2] ~ / required$/) base[f[1]] = 1
	d = f[3]; gsub(/\([^)]*\)/, "", d); gsub(/:[a-z0-9]+/, "", d); gsub(/[,|]/, " ", d)
	dep[f[1]] = d; next
}
{ cmd = $1; path = $2; where = $3; pkg = ""
  for (i = 4; i <= NF && pkg == ""; i++) if ($i in owner) pkg = owner[$i]
  line[++n] = cmd " " path " " where " " pkg }
# packages installed by a list: the list and, recursively, what they depend on
function close_over(list, into,   q, qn, i, p, k, m, d) {
	qn = split(list, q, " ")
	for (i = 1; i <= qn; i++) {
		p = q[i]; if (p in into) continue
		into[p] = 1
		m = split(dep[p], d, " ")
		for (k = 1; k <= m; k++) if (!(d[k] in into)) q[++qn] = d[k]
	}
}
END {
	close_over(deps, main); close_over(deps " " bdeps, bench)
	for (i = 1; i <= n; i++) {
		split(line[i], x, " "); cmd = x[1]; path = x[2]; where = x[3]; pkg = x[4]
		if (pkg == "") { printf "FAIL: %s (%s) belongs to no Debian package\n", cmd, path; bad++; continue }
		checked++
		if (pkg in base) continue
		if (where == "main" && pkg in main) continue
		if (where == "bench" && pkg in bench) continue
		if (where == "main")
			printf "FAIL: %s (%s) is run by the Makefile or tests: add package %s to DEPS in the Makefile\n", cmd, path, pkg
		else
			printf "FAIL: bench/ runs %s (%s): add package %s to BENCH_DEPS in the Makefile\n", cmd, path, pkg
		bad++
	}
	printf "%d commands checked, %d not installed by make deps\n", checked, bad
	exit bad > 0
}' "$tmp/owners" "$tmp/pkgs" "$tmp/cands"
