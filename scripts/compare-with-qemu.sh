#!/usr/bin/env bash
# Differential test: boots the same test guest ELF under jkvm (its direct 64-bit entry) and under
# QEMU 7.2 with KVM (SeaBIOS, then the PVH entry), with the same memory, vCPUs, command line and
# disks, and checks that both print the same TEST verdicts and the same RESULT line, and leave
# byte-identical disk images.
#
#   scripts/compare-with-qemu.sh            the standard set of configurations
#   scripts/compare-with-qemu.sh -m 4G -smp 2 --append "tests=memory"   one configuration
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
elf="$root/guest/build/testguest.elf"

verdicts() {
    # "TEST name PASS|FAIL" and "RESULT ..." lines; the detail after the verdict may differ between VMMs.
    tr -d '\r' | LC_ALL=C sed -nE 's/^(TEST [a-z0-9_-]+ (PASS|FAIL))( .*)?$/\1/p; /^RESULT /p'
}

# compare MEM SMP APPEND [extra VMM args...]: the args may name @IMG@, replaced by a per-VMM copy dir.
# Each VMM's own messages (stderr) go to a file of their own: one written while the guest
# prints would split a TEST or RESULT line.
compare() {
    local mem=$1 smp=$2 append=$3
    shift 3
    local jk qm
    jk=$(mktemp) qm=$(mktemp)
    local jargs=("${@//@IMG@/$imgdir/jkvm}") qargs=("${@//@IMG@/$imgdir/qemu}")
    set +e
    # -nic none on both sides: qemu-guest.sh drops QEMU's default NIC (and its iPXE ROM), so the
    # PCI buses the guest walks are the same.
    timeout 300 "$root/jkvm" -m "$mem" -smp "$smp" -kernel "$elf" -append "$append" -serial stdio -nic none \
        -device isa-debug-exit,iobase=0xf4,iosize=1 "${jargs[@]}" </dev/null >"$jk" 2>"$jk.err"
    local jstatus=$?
    "$root/scripts/qemu-guest.sh" -m "$mem" -smp "$smp" --append "$append" "${qargs[@]}" >"$qm" 2>"$qm.err"
    local qstatus=$?
    set -e
    local jv qv
    jv=$(verdicts <"$jk")
    qv=$(verdicts <"$qm")
    printf '%-8s smp=%-2s %-40s jkvm: %-28s qemu: %s\n' "-m $mem" "$smp" "append='$append'" \
        "$(grep -a '^RESULT' "$jk" | tr -d '\r' | head -1) (status $jstatus)" "$(grep -a '^RESULT' "$qm" | tr -d '\r' | head -1)"
    if [ -z "$jv" ] || [ "$jv" != "$qv" ]; then
        echo "MISMATCH for -m $mem -smp $smp -append '$append'"
        diff <(echo "$jv") <(echo "$qv") || true
        echo "--- jkvm output"; cat "$jk" "$jk.err"; echo "--- qemu output"; cat "$qm" "$qm.err"
        rm -f "$jk" "$jk.err" "$qm" "$qm.err"
        return 1
    fi
    rm -f "$jk" "$jk.err" "$qm" "$qm.err"
}

"$root/scripts/build" >/dev/null 2>&1 || "$root/scripts/build"
if [ $# -gt 0 ]; then
    mem=64M smp=1 append=""
    while (($#)); do
        case "$1" in
            -m) mem=$2; shift 2 ;;
            -smp) smp=$2; shift 2 ;;
            --append) append=$2; shift 2 ;;
            *) echo "compare-with-qemu: unknown argument $1" >&2; exit 2 ;;
        esac
    done
    compare "$mem" "$smp" "$append"
    exit
fi

imgdir=$(mktemp -d)
trap 'rm -rf "$imgdir"' EXIT
# Both VMMs get their own copies of the same pattern images; afterwards the copies must be identical.
mkdir -p "$imgdir/jkvm" "$imgdir/qemu"
for vmm in jkvm qemu; do
    python3 "$root/guest/tools/mkpattern.py" 4M "$imgdir/$vmm/rw.img"
    python3 "$root/guest/tools/mkpattern.py" 1M "$imgdir/$vmm/ro.img"
    python3 "$root/guest/tools/mkpattern.py" 4M "$imgdir/$vmm/ide.img"
done
# One ISO for both (a CD-ROM is read-only): volume JKVMTEST with PATTERN.BIN (20 KiB of the pattern).
command -v xorriso >/dev/null || apt-get install -y xorriso >/dev/null
mkdir -p "$imgdir/iso-tree"
python3 "$root/guest/tools/mkpattern.py" 20K "$imgdir/iso-tree/pattern.bin"
xorriso -as mkisofs -quiet -V JKVMTEST -o "$imgdir/cd.iso" "$imgdir/iso-tree"
iso_blocks=$(( $(stat -c %s "$imgdir/cd.iso") / 2048 ))

# s5: the guest powers off through PM1a_CNT; both VMMs must end with status 0 right after S5-NOW.
compare_s5() {
    local jk qm jstatus qstatus
    jk=$(mktemp) qm=$(mktemp)
    set +e
    timeout 120 "$root/jkvm" -m 64M -kernel "$elf" -append "tests=s5" -serial stdio -nic none \
        -device isa-debug-exit,iobase=0xf4,iosize=1 </dev/null >"$jk" 2>"$jk.err"
    jstatus=$?
    "$root/scripts/qemu-guest.sh" -m 64M --append "tests=s5" >"$qm" 2>"$qm.err"
    qstatus=$?
    set -e
    printf '%-8s smp=%-2s %-40s jkvm: %-28s qemu: %s\n' "-m 64M" 1 "append='tests=s5'" \
        "$(grep -a -c '^S5-NOW' "$jk") S5-NOW (status $jstatus)" "$(grep -a -c '^S5-NOW' "$qm") S5-NOW (status $qstatus)"
    if [ "$jstatus" -ne 0 ] || [ "$qstatus" -ne 0 ] || ! grep -a -q '^S5-NOW' "$jk" || ! grep -a -q '^S5-NOW' "$qm" \
        || grep -a -q '^TEST s5 FAIL' "$jk" "$qm"; then
        echo "MISMATCH for tests=s5 (both must print S5-NOW and exit 0)"
        echo "--- jkvm output"; cat "$jk" "$jk.err"; echo "--- qemu output"; cat "$qm" "$qm.err"
        rm -f "$jk" "$jk.err" "$qm" "$qm.err"
        return 1
    fi
    rm -f "$jk" "$jk.err" "$qm" "$qm.err"
}

failed=0
compare 64M 1 "" || failed=1
compare 64M 2 "tests=serial,memory,smp cpus=2" || failed=1
compare 32M 1 "tests=serial,nosuchtest" || failed=1
compare 4G 2 "tests=memory,smp cpus=2" || failed=1
# A guest reset reboots both VMMs in place (jkvm has no -no-reboot here, QEMU gets QEMU_REBOOT=1).
QEMU_REBOOT=1 compare 64M 2 "tests=smp,reset reset.method=cf9 cpus=2" || failed=1
QEMU_REBOOT=1 compare 64M 1 "tests=reset reset.method=i8042" || failed=1
compare_s5 || failed=1
compare 64M 1 "tests=ide-id,ide-pio,ide-dma,atapi ide.sectors=8192 atapi.blocks=$iso_blocks atapi.volid=JKVMTEST atapi.file=PATTERN.BIN" \
    -drive "file=@IMG@/ide.img,if=ide,index=0,format=raw" -cdrom "$imgdir/cd.iso" || failed=1
compare 64M 1 "tests=pci,blk-id,blk-read,blk-write,blk-flush,blk-discard,blk-ro,blk-msix,blk-bad blk.capacity=8192 blk.serial=jkvm-disk-0" \
    -drive "file=@IMG@/rw.img,if=none,id=d0,format=raw,discard=unmap" -device "virtio-blk-pci,drive=d0,serial=jkvm-disk-0" \
    -drive "file=@IMG@/ro.img,if=none,id=d1,format=raw,readonly=on" -device virtio-blk-pci,drive=d1 || failed=1
for img in rw.img ro.img ide.img; do
    if cmp "$imgdir/jkvm/$img" "$imgdir/qemu/$img"; then
        echo "images: $img is byte-identical after jkvm and after QEMU"
    else
        echo "MISMATCH: $img differs between jkvm and QEMU"
        failed=1
    fi
done
if [ $failed -ne 0 ]; then
    echo "compare-with-qemu: jkvm and QEMU disagree"
    exit 1
fi
echo "compare-with-qemu: jkvm and QEMU print the same verdicts and RESULT lines"
