#!/usr/bin/env bash
# Boots Debian's kernel (/boot/vmlinuz-*) on jkvm with a busybox initramfs, a virtio-net and an
# e1000 NIC (each on user networking), a virtio-blk disk and an IDE disk, waits for the guest's
# marker, and checks that the VM powers off.
#
#   scripts/linux-smoke.sh [--timeout SECONDS] [--kernel FILE] [--keep]
#
# Exit status: 0 when the marker appeared and jkvm ended because the guest powered off; 1 otherwise.
# On a PVM host (/sys/module/kvm_pvm) an unmodified Linux cannot boot: the script says
# "SKIPPED: PVM host cannot boot unmodified Linux" and exits 0 without trying (LINUX_SMOKE_FORCE=1
# tries anyway, to exercise the script itself; the guest then hangs and the run fails at the timeout).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
marker=JKVM-LINUX-SMOKE-OK
timeout=180
kernel=
keep=0

while [ $# -gt 0 ]; do
    case "$1" in
        --timeout) timeout=$2; shift 2 ;;
        --kernel) kernel=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "linux-smoke: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

if [ -e /sys/module/kvm_pvm ] && [ "${LINUX_SMOKE_FORCE:-0}" != 1 ]; then
    echo "SKIPPED: PVM host cannot boot unmodified Linux"
    exit 0
fi
if [ ! -e /dev/kvm ]; then
    echo "linux-smoke: /dev/kvm does not exist; this host has no KVM" >&2
    exit 1
fi

apt_install() {
    echo "linux-smoke: installing $*" >&2
    apt-get install -y "$@" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y "$@" >/dev/null; }
}

busybox_is_static() {
    [ -x /bin/busybox ] && ! LC_ALL=C readelf -l /bin/busybox 2>/dev/null | grep -q 'Requesting program interpreter'
}

need=()
busybox_is_static || need+=(busybox-static)
if [ -z "$kernel" ] && ! ls /boot/vmlinuz-* >/dev/null 2>&1; then
    need+=(linux-image-amd64)
fi
command -v cpio >/dev/null || need+=(cpio)
command -v readelf >/dev/null || need+=(binutils)
# -netdev user: jkvm binds libslirp (the library QEMU uses) through FFM.
ldconfig -p 2>/dev/null | grep -q 'libslirp\.so\.0 ' || need+=(libslirp0)
if [ ${#need[@]} -gt 0 ]; then
    apt_install "${need[@]}"
fi
busybox_is_static || { echo "linux-smoke: /bin/busybox is not statically linked (apt-get install busybox-static)" >&2; exit 1; }
if [ -z "$kernel" ]; then
    kernel=$(ls /boot/vmlinuz-* | sort -V | tail -n 1)
fi
[ -r "$kernel" ] || { echo "linux-smoke: cannot read kernel '$kernel'" >&2; exit 1; }

work=$(mktemp -d /tmp/jkvm-linux-smoke.XXXXXX)
jkvm_pid=
cleanup() {
    if [ -n "$jkvm_pid" ] && kill -0 "$jkvm_pid" 2>/dev/null; then
        kill "$jkvm_pid" 2>/dev/null || true
        wait "$jkvm_pid" 2>/dev/null || true
    fi
    if [ "$keep" = 1 ]; then
        echo "linux-smoke: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the initramfs: busybox, /init, and a console node ---
fs=$work/initramfs
mkdir -p "$fs"/{bin,dev,proc,sys}
cp /bin/busybox "$fs/bin/busybox"
ln -s busybox "$fs/bin/sh"
if [ "$(id -u)" = 0 ]; then
    mknod -m 600 "$fs/dev/console" c 5 1
fi
cat > "$fs/init" <<EOF
#!/bin/busybox sh
bb=/bin/busybox
\$bb mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
\$bb mount -t proc proc /proc
\$bb mount -t sysfs sysfs /sys
echo $marker
echo "== uname"; \$bb uname -a
echo "== /proc/interrupts"; \$bb cat /proc/interrupts
echo "== /sys/bus/pci/devices"
for d in /sys/bus/pci/devices/*; do
    echo "\$(\$bb basename \$d) \$(\$bb cat \$d/vendor):\$(\$bb cat \$d/device) class \$(\$bb cat \$d/class)"
done
echo "== block devices"; \$bb ls /sys/block
echo "== network interfaces"; \$bb ls /sys/class/net
echo "== powering off"
\$bb poweroff -f
EOF
chmod 755 "$fs/init"
(cd "$fs" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > "$work/initramfs.cpio.gz"

# --- a small raw disk for virtio-blk ---
truncate -s 8M "$work/disk.raw"

# --- devices: both NICs on user networking (a NIC needs netdev= in jkvm), a virtio-blk and an IDE disk ---
truncate -s 4M "$work/ide.raw"
devices=(-netdev user,id=n0 -device virtio-net-pci,netdev=n0
         -netdev user,id=n1 -device e1000,netdev=n1
         -drive "file=$work/disk.raw,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0
         -drive "file=$work/ide.raw,if=ide,format=raw")

# --- boot ---
log=$work/serial.log
cmd=("$root/jkvm" -m 512M -smp 2 -kernel "$kernel" -initrd "$work/initramfs.cpio.gz"
     -append "console=ttyS0 panic=-1" -nographic -no-reboot "${devices[@]}")
echo "linux-smoke: ${cmd[*]}"
"${cmd[@]}" </dev/null >"$log" 2>&1 &
jkvm_pid=$!

deadline=$((SECONDS + timeout))
seen=0
while [ $SECONDS -lt $deadline ]; do
    if [ $seen = 0 ] && grep -q "$marker" "$log"; then
        seen=1
        echo "linux-smoke: marker seen after ${SECONDS}s"
    fi
    if ! kill -0 "$jkvm_pid" 2>/dev/null; then
        break
    fi
    sleep 1
done

status=
if kill -0 "$jkvm_pid" 2>/dev/null; then
    echo "linux-smoke: jkvm still running after ${timeout}s; stopping it" >&2
    kill "$jkvm_pid" 2>/dev/null || true
    wait "$jkvm_pid" 2>/dev/null || true
else
    set +e
    wait "$jkvm_pid"
    status=$?
    set -e
fi
jkvm_pid=
grep -q "$marker" "$log" && seen=1

echo "---- guest output (last 80 lines) ----"
tail -n 80 "$log"
echo "--------------------------------------"
if [ $seen = 1 ] && [ "$status" = 0 ]; then
    echo "linux-smoke: PASS: marker seen and the VM powered off (jkvm exit status 0)"
    exit 0
fi
if [ $seen = 0 ]; then
    echo "linux-smoke: FAIL: no '$marker' on the console within ${timeout}s" >&2
else
    echo "linux-smoke: FAIL: marker seen but the VM did not power off cleanly (jkvm exit status: ${status:-still running})" >&2
fi
exit 1
