#!/usr/bin/env bash
# tests/e2e/api_rest.sh on the etcd store (which it starts on loopback at a
# free port, with its own data directory), plus two tern-api replicas on
# that one etcd.
API_STORE=etcd exec bash "$(dirname "$0")/api_rest.sh"
