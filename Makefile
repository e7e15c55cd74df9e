# tern: the two commands a newcomer needs are `make demo` and `make test`.
# meson + ninja do the building; this file only installs what is missing and
# calls them.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
ONLY       ?=

# Debian packages the build, the tests and the lab need (tests/e2e/deps_commands.sh checks
# that every command they run comes from one of these; `make test-fresh` installs them on a
# fresh Debian 12).
DEPS = gcc clang meson ninja-build pkg-config dpdk dpdk-dev libdpdk-dev \
       libcmocka-dev libjansson-dev iproute2 iputils-ping tshark iperf3 \
       tcpdump valgrind util-linux procps ethtool graphviz gobgpd frr \
       libmicrohttpd-dev libsqlite3-dev libcurl4-openssl-dev libyaml-dev uuid-dev libzstd-dev curl \
       etcd-server etcd-client libmnl-dev containernetworking-plugins podman runc busybox-static \
       python3 openssl
# The benchmarks' peers and profilers, installed by `make bench` only.
BENCH_DEPS = openvswitch-switch-dpdk linux-perf bird2

.PHONY: all deps bench-deps install-packages build build-asan test test-fresh unit demo demo-down bench fuzz clean

all: build

deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEPS)"

bench-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_DEPS)"

install-packages:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (apt-get needs it)" >&2; exit 1; fi; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized >/dev/null

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined \
	  -Db_lundef=false -Dunit_only=true >/dev/null

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# Every test: unit (plain and sanitized), end-to-end in namespaces, interop.
test: build build-asan
	BUILD=$(BUILD) ASAN_BUILD=$(ASAN_BUILD) tests/run

# The newcomer's path: the README's commands in a fresh Debian 12 chroot, from HEAD
# (FRESH_TREE=worktree: the working tree). Long; not part of `make test`. It takes the build
# lock itself: do not run it under flock /tmp/tern-build.lock.
test-fresh:
	tests/fresh/run.sh

KEEP ?= 0
demo: build
	BUILD=$(BUILD) tests/lab/demo.sh $(if $(filter 1,$(KEEP)),--keep)

demo-down:
	tests/lab/demo.sh --down

bench: bench-deps build
	BUILD=$(BUILD) bench/run $(ONLY)

fuzz: deps
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) --buildtype=debug \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true >/dev/null
	ninja -C $(FUZZ_BUILD)
	BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
