#!/usr/bin/env bash
# tests/e2e/cni_podman.sh — a real container runtime uses tern-cni: podman
# with its CNI backend (set-up as ../shared/MACHINE.md found working: runc,
# cgroupfs, lowered ulimits) runs a busybox container on host h1 whose
# network is tern-cni; the container pings a pod on host h2 over the overlay,
# and podman's DEL leaves nothing behind on h1.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/netns.sh
source tests/lib/vrlab.sh
BUILD=${BUILD:-build}
source tests/lib/agentlab.sh
tl_init
command -v podman >/dev/null || tl_skip "no podman (Debian podman)"
command -v runc >/dev/null || tl_skip "no runc (Debian runc)"
BUSYBOX=$(command -v busybox) || tl_skip "no busybox (Debian busybox-static)"
ldd "$BUSYBOX" >/dev/null 2>&1 && tl_skip "$BUSYBOX is linked dynamically (Debian busybox-static is not)"
command -v curl >/dev/null || tl_skip "no curl"

al_init
al_host h1 0 10.255.0.1 10.254.0.11
al_host h2 1 10.255.0.2 10.254.0.12
al_control h1 h2
al_networks red=10.1.0.0/24
al_agent h1
al_agent h2
P2=$(tl_netns p2)
out=$(al_cni h2 ADD cid-p2 "$P2" eth0 "K8S_POD_NAMESPACE=demo;K8S_POD_NAME=p2" <<<"$(al_netconf h2 red)") ||
	tl_fail "pod p2: $out"
P2_IP=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ips"][0]["address"].split("/")[0])' "$out")

# podman, confined to the test's directory.
PM=$TL_DIR/podman
mkdir -p "$PM/net.d" "$PM/rootfs/bin"
cat >"$PM/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
[network]
network_backend = "cni"
cni_plugin_dirs = ["$(cd "$(dirname "$AL_CNI")" && pwd)", "/usr/lib/cni"]
network_config_dir = "$PM/net.d"
EOF
cat >"$PM/net.d/ternred.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "ternred", "plugins": [
  {"type": "tern-cni", "agentSocket": "$TL_DIR/h1/agent.sock", "project": "demo", "network": "red"}]}
EOF
cp "$BUSYBOX" "$PM/rootfs/bin/busybox"
tar -C "$PM/rootfs" -cf "$PM/rootfs.tar" bin
# nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup
# mounts that runc needs.
pm() {
	nsenter --net="/run/netns/${VL_NS[h1]}" env CONTAINERS_CONF="$PM/containers.conf" \
		podman --root "$PM/storage" --runroot "$PM/run" --storage-driver vfs \
		--tmpdir "$PM/tmp" "$@"
}
pm import "$PM/rootfs.tar" localhost/tern-bb >/dev/null 2>"$PM/import.err" ||
	tl_fail "podman import: $(cat "$PM/import.err")"

before=$(ip -n "${VL_NS[h1]}" -o link show | grep -c ' tn')
out=$(pm run --rm --network ternred localhost/tern-bb /bin/busybox sh -c \
	"/bin/busybox ip -4 addr show eth0; /bin/busybox ping -c 3 -W 2 $P2_IP" 2>&1)
rc=$?
echo "$out" | sed 's/^/  container: /'
tl_check "podman container on h1 (network tern-cni) pings pod p2 on h2 (rc $rc)" \
	eval '[ $rc -eq 0 ] && grep -q "3 packets received" <<<"$out"'
tl_check "the container's address came from tern-api (10.1.0.0/24)" grep -q "inet 10.1.0." <<<"$out"
after=$(ip -n "${VL_NS[h1]}" -o link show | grep -c ' tn')
tl_check "podman's DEL removed the container's veth ($before before, $after after)" test "$after" -eq "$before"
vifs=$(vl_ctl h1 vr vif list -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
tl_check "and its vif (h1 has $vifs vif: the fabric)" test "$vifs" -eq 1
vmis=$(al_ctl get vmi -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d.get("items", d) if isinstance(d, dict) else d))')
tl_check "and the interface the agent made for it in tern-api ($vmis left: p2's)" test "$vmis" -eq 1
exit 0
