#!/usr/bin/env bash
# Installs what berth needs on a Debian host (run as root). Idempotent.
#   scripts/install-deps.sh          daemon runtime packages (and protoc, to build etcd-client)
#   scripts/install-deps.sh --test   plus what the test suite uses
set -euo pipefail

packages=(iproute2 nftables runc busybox-static util-linux ca-certificates procps tini protobuf-compiler)
if [ "${1:-}" = "--test" ]; then
  packages+=(sqlite3 iperf3 dnsutils dnsperf dnsmasq-base bridge-utils procps curl docker-compose conntrack etcd-server etcd-client docker-registry skopeo openssl)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Packages that ship a service (etcd-server) must not start it on this
  # host: berth's tests start their own, inside sandbox hosts.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "cargo is in $HOME/.cargo/bin: add it to PATH" >&2
  else
    echo "no Rust toolchain found: install one (rustup, or Debian's cargo if recent enough: berth needs Rust >= 1.85)" >&2
  fi
  exit 1
fi
