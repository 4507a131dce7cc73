#!/bin/bash
# Build a local stand-in for the CUDA base image (no registry is reachable here): a debootstrap bookworm
# minbase plus pyenv's CPython 3.10, copied to the same path because its RUNPATH is absolute.
# Usage: DOCKER_HOST=... build-base.sh SCRATCH_DIR TAG
set -euo pipefail
D=${1:?scratch dir}; TAG=${2:?image tag}
PYROOT=${PYROOT:-$(pyenv root 2>/dev/null || echo /root/.pyenv)/versions/3.10.13}
ROOTFS=$D/rootfs
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || echo http://deb.debian.org/debian)}
# CPython's shared libs + libgomp1 (paddle) + libgl1/libglib2.0-0 (opencv-python, pulled by paddleslim)
PKGS=ca-certificates,libssl3,libffi8,libsqlite3-0,zlib1g,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libuuid1,libexpat1,libgomp1,libglib2.0-0,libgl1
[ -x "$PYROOT/bin/python3.10" ] || { echo "error: no CPython 3.10 at $PYROOT (set PYROOT)" >&2; exit 1; }
rm -rf "$ROOTFS"; mkdir -p "$D"
debootstrap --variant=minbase --include="$PKGS" bookworm "$ROOTFS" "$MIRROR" >"$D/debootstrap.log" 2>&1 \
  || { tail -20 "$D/debootstrap.log" >&2; exit 1; }
mkdir -p "$ROOTFS$(dirname "$PYROOT")"
tar -C "$(dirname "$PYROOT")" --exclude="$(basename "$PYROOT")/lib/python3.10/test" \
    --exclude='_sandboxing_egress_ca.pth' -cf - "$(basename "$PYROOT")" | tar -C "$ROOTFS$(dirname "$PYROOT")" -xf -
# a non-root user must traverse every parent of the interpreter's prefix
d=$(dirname "$PYROOT"); while [ "$d" != / ]; do chmod o+x "$ROOTFS$d"; d=$(dirname "$d"); done
for name in python3.10 python3 python; do ln -sf "$PYROOT/bin/python3.10" "$ROOTFS/usr/local/bin/$name"; done
chroot "$ROOTFS" /usr/local/bin/python3.10 -c 'import ssl, sqlite3, zlib, bz2, lzma, ctypes, venv, ensurepip'
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log
tar --numeric-owner -C "$ROOTFS" -cf - . | /usr/bin/docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
rm -rf "$ROOTFS"
/usr/bin/docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$TAG"
