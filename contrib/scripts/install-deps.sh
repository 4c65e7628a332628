#!/usr/bin/env bash
# Installs the Debian 12 packages upstage needs to build, test and run,
# skipping what is already there. Run as root (apt-get).
set -euo pipefail

packages=(
	build-essential cmake pkg-config
	libwebsockets-dev libwebsockets-evlib-uv
	libjansson-dev libssl-dev libuv1-dev libsqlite3-dev libyaml-dev
	libcmocka-dev libsystemd-dev
	libcurl4-openssl-dev libarchive-dev
	openssl gpgv
)
# Tests additionally fuzz with clang's libFuzzer, fetch and check published
# metadata and downloads with curl and jq, and the benchmarks compare with
# nginx (nginx-extras: WebDAV for ingest, sendfile for serve).
if [ "${1:-}" = "--test" ]; then
	packages+=(clang libclang-rt-14-dev)
	# The e2e tests read JSON with jq and fetch with curl, the machines
	# benchmark counts registry rows with sqlite3, and the benchmarks
	# compare with nginx (nginx-extras: WebDAV for ingest, sendfile for
	# serve; it is also the machine tests' load balancer); the mirror
	# tests sign metadata with a throwaway key (gnupg); /metrics is
	# parsed with the Prometheus client's parser
	# (python3-prometheus-client).
	# The status page is tested in headless Chromium, driven over the
	# DevTools protocol (python3-websocket).
	packages+=(jq python3 curl sqlite3 nginx-extras gnupg
		python3-prometheus-client chromium python3-websocket)
fi

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or install them with sudo apt-get install)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
