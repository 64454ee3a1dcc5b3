#!/usr/bin/env bash
# Build a Debian bookworm minbase root filesystem and tar it as one OCI layer.
#
# Usage: scripts/build-debian-rootfs.sh OUTDIR
#
# Writes OUTDIR/debian-bookworm-minbase.tar (numeric owners, xattrs, sorted names,
# mtimes clamped to SOURCE_DATE_EPOCH, no atime/ctime records) and leaves the
# unpacked tree in OUTDIR/rootfs for baselines such as `mkfs.ext4 -d`. A tarball
# that already exists is kept, so repeated runs are fast. Needs root.
set -euo pipefail

OUTDIR=${1:?usage: $0 OUTDIR}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
TARBALL="$OUTDIR/debian-$SUITE-minbase.tar"
ROOTFS="$OUTDIR/rootfs"

mkdir -p "$OUTDIR"
if [[ -s "$TARBALL" && -d "$ROOTFS/usr" ]]; then
    echo "$TARBALL"
    exit 0
fi

if ! command -v debootstrap >/dev/null; then
    apt-get install -y -q debootstrap >&2
fi

WORK=$(mktemp -d "$OUTDIR/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
debootstrap --variant=minbase "$SUITE" "$WORK/rootfs" "$MIRROR" >&2

# Drop what only the build left behind and what differs between runs.
rm -rf "$WORK/rootfs/var/cache/apt/"*.bin "$WORK/rootfs/var/log/"* \
       "$WORK/rootfs/var/lib/apt/lists/"* "$WORK/rootfs/dev/"*

tar --create --file "$WORK/layer.tar" --directory "$WORK/rootfs" \
    --format=pax --numeric-owner --xattrs --xattrs-include='*' --sort=name \
    --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    .

rm -rf "$ROOTFS"
mv "$WORK/rootfs" "$ROOTFS"
mv "$WORK/layer.tar" "$TARBALL"
echo "$TARBALL"
