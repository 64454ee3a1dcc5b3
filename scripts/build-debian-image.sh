#!/usr/bin/env bash
# Build a realistic three-layer OCI image layout from Debian packages.
#
# Usage: scripts/build-debian-image.sh [OUTDIR]   (default $OBD_CACHE_DIR/debian-image)
#
#   layer 1  debootstrap minbase (the tarball of scripts/build-debian-rootfs.sh)
#   layer 2  apt-get installs curl in a chroot, then removes files: whiteouts of files,
#            of a directory tree and of one name of a hardlinked file, and an opaque
#            /usr/share/doc holding only a new README
#   layer 3  a small application: files, a symlink, a hardlink, a setuid binary, a
#            sticky directory, a FIFO, xattrs (user.test, security.capability), a
#            non-root owner and a nanosecond mtime
#
# Layers are diffs of the tree between steps (scripts/oci_image_tool.py): PAX, sorted,
# numeric owners, mtimes clamped to SOURCE_DATE_EPOCH. The image is tagged `latest`.
# An existing OUTDIR/index.json means the image is built: the script prints OUTDIR and
# exits at once. Needs root and access to a Debian mirror.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${OBD_CACHE_DIR:-$HOME/.cache/overlaybd-py}
OUTDIR=${1:-$CACHE/debian-image}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PACKAGES=${PACKAGES:-curl}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
TOOL="python3 $HERE/oci_image_tool.py"

if [[ -s "$OUTDIR/index.json" ]]; then
    echo "$OUTDIR"
    exit 0
fi

BASE_TAR=$("$HERE/build-debian-rootfs.sh" "$CACHE/debian" | tail -n 1)

mkdir -p "$(dirname "$OUTDIR")"
WORK=$(mktemp -d "$(dirname "$OUTDIR")/.debian-image.XXXXXX")
ROOT="$WORK/root"
cleanup() {
    umount "$ROOT/proc" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Layer 1: the minbase tree, unpacked from the same tarball that becomes the layer.
mkdir "$ROOT"
tar --extract --file "$BASE_TAR" --directory "$ROOT" --numeric-owner \
    --xattrs --xattrs-include='*' --same-permissions
$TOOL snapshot "$ROOT" "$WORK/layer1.snapshot"

# Layer 2: install packages, then delete and replace content of the lower layer.
cp /etc/resolv.conf "$ROOT/etc/resolv.conf.host"
mount -t proc proc "$ROOT/proc"
mknod -m 666 "$ROOT/dev/null" c 1 3
chroot "$ROOT" /bin/sh -euc "
    cp /etc/resolv.conf.host /etc/resolv.conf
    echo 'deb $MIRROR bookworm main' > /etc/apt/sources.list
    export DEBIAN_FRONTEND=noninteractive
    apt-get -q update >/dev/null
    apt-get -q install -y --no-install-recommends $PACKAGES >/dev/null
    apt-get clean
" >&2
umount "$ROOT/proc"
rm -f "$ROOT/dev/null" "$ROOT/etc/resolv.conf.host"
rm -rf "$ROOT/var/lib/apt/lists/"* "$ROOT/var/cache/apt/"*.bin "$ROOT/var/log/"*
rm -rf "$ROOT/usr/share/doc/"* "$ROOT/usr/share/man" "$ROOT/usr/share/info"
rm -f "$ROOT/etc/motd" "$ROOT/usr/bin/perl5.36.0"  # perl5.36.0 is a hardlink of perl
echo "Documentation was removed from this image." > "$ROOT/usr/share/doc/README"
$TOOL diff "$WORK/layer1.snapshot" "$ROOT" "$WORK/layer2.tar" --opaque usr/share/doc
$TOOL snapshot "$ROOT" "$WORK/layer2.snapshot"

# Layer 3: a small application.
APP="$ROOT/opt/app"
mkdir -p "$APP/bin" "$APP/etc" "$APP/data" "$ROOT/usr/local/bin"
printf '#!/bin/sh\necho "hello from app"\n' > "$APP/bin/app"
chmod 4755 "$APP/bin/app"
ln "$APP/bin/app" "$APP/bin/app-hardlink"
ln -s /opt/app/bin/app "$ROOT/usr/local/bin/app"
printf 'name = demo\n' > "$APP/etc/app.conf"
python3 - "$APP" <<'EOF'
import os, random, sys
app = sys.argv[1]
os.setxattr(f"{app}/etc/app.conf", "user.test", b"hello xattr")
cap = bytes.fromhex("0100000200200000000000000000000000000000")  # cap_net_bind_service+ep
os.setxattr(f"{app}/bin/app", "security.capability", cap)
with open(f"{app}/data/blob.bin", "wb") as out:
    out.write(random.Random(42).randbytes(3 << 20))
open(f"{app}/data/empty", "wb").close()
os.mkfifo(f"{app}/data/fifo")
os.mkdir(f"{app}/tmp")
os.chmod(f"{app}/tmp", 0o1777)
os.chown(f"{app}/data", 1000, 1000)
os.utime(f"{app}/etc/app.conf", ns=(1690000000123456789, 1690000000123456789))
EOF
$TOOL diff "$WORK/layer2.snapshot" "$ROOT" "$WORK/layer3.tar"

$TOOL layout "$WORK/layout" latest "$BASE_TAR" "$WORK/layer2.tar" "$WORK/layer3.tar" \
    --comment "debootstrap --variant=minbase bookworm" \
    --comment "apt-get install $PACKAGES; remove docs, man pages, caches" \
    --comment "install /opt/app"
rm -rf "$OUTDIR"
mv "$WORK/layout" "$OUTDIR"
echo "$OUTDIR"
