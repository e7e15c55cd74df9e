#!/usr/bin/env bash
# make demo's laboratory, as the test suite runs it: same script, its own
# directory and namespace prefix so that it never meets a kept demo.
set -u
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
dir=$(mktemp -d /tmp/tern-labtest.XXXXXX)
rmdir "$dir"
LAB_DIR=$dir LAB_PREFIX="lt$(printf '%x' $(( $$ % 65536 )))-" bash tests/lab/demo.sh
