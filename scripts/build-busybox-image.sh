#!/usr/bin/env bash
# Builds the test image's root filesystem tarball (`busybox:latest` once
# imported) from Debian's busybox-static, without any network:
#   scripts/build-busybox-image.sh [OUT.tar]     (default: target/busybox.tar)
# The tarball is deterministic (sorted names, fixed mtime, numeric root
# ownership), so two builds from the same busybox give the same bytes and
# so the same image layer digest.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-${CARGO_TARGET_DIR:-$repo/target}/busybox.tar}
busybox=${BUSYBOX:-/bin/busybox}

if [ ! -x "$busybox" ]; then
  echo "$busybox not found: install Debian's busybox-static (apt-get install busybox-static)" >&2
  exit 1
fi
# A dynamically linked busybox would need its libraries in the image.
if ldd "$busybox" >/dev/null 2>&1; then
  echo "$busybox is dynamically linked: install busybox-static, not busybox" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
umask 022
mkdir -p "$root"/{bin,etc,root,proc,sys,dev,tmp}
chmod 0700 "$root/root"
chmod 1777 "$root/tmp"

install -m 0755 "$busybox" "$root/bin/busybox"
# Hard links, like the official busybox image: one inode, one copy in the
# layer, every applet reachable on the default PATH.
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] && continue
  ln "$root/bin/busybox" "$root/bin/$applet"
done

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
# root is in wheel, as in the official image: `id` shows supplementary groups.
cat >"$root/etc/group" <<'GROUP'
root:x:0:
wheel:x:10:root
staff:x:50:
nobody:x:65534:
GROUP

mkdir -p "$(dirname "$out")"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
  -C "$root" -cf "$out.tmp" bin dev etc proc root sys tmp
mv "$out.tmp" "$out"
echo "$out"
