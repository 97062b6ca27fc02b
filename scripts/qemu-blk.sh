#!/usr/bin/env bash
# Runs the test guest's PCI and virtio-blk tests under QEMU (the reference for jkvm's
# virtio-blk), then checks on the host what the guest left in the disk images.
#
#   scripts/qemu-blk.sh [--keep DIR] [extra qemu-guest.sh args...]
#
# Makes a 4 MiB read-write image and a 1 MiB read-only image holding the pattern of
# guest/tools/mkpattern.py, attaches them as virtio-blk-pci devices (rw: serial jkvm-disk-0,
# discard=unmap; ro: readonly=on), runs the guest through scripts/qemu-guest.sh, and requires
#   - RESULT ... 0 failed;
#   - rw image: pattern ^ 0xff at sectors W..W+7 (W = 4096), zeros at W+64..W+71 (discard)
#     and W+128..W+135 (write zeroes), the pattern everywhere else;
#   - ro image: untouched.
# Then a second, short run checks the blk.wait=1 handshake a host test relies on: the guest
# runs blk-write, prints "BLK-FLUSHED sector=W count=8" and waits; this script checks the
# image file *while the guest waits* (pattern ^ 0xff already there after the FLUSH), then types
# one byte on COM1 and requires blk-write to pass. --no-wait skips this run.
# --keep DIR keeps the images and logs in DIR instead of a temporary directory.
# Exit 0 only if all of that holds.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkpattern="$root/guest/tools/mkpattern.py"
keep=""
wait_run=1
extra=()
while (($#)); do
    case "$1" in
        --keep) keep=$2; shift 2 ;;
        --no-wait) wait_run=0; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) extra+=("$1"); shift ;;
    esac
done

if [[ -n $keep ]]; then
    dir=$keep
    mkdir -p "$dir"
else
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
fi

rw_sectors=8192                      # 4 MiB
ro_sectors=2048                      # 1 MiB
serial=jkvm-disk-0
w=$(( (rw_sectors / 2) & ~7 ))       # what blk-write/blk-discard use (tests/blk.c)

python3 "$mkpattern" $((rw_sectors * 512)) "$dir/rw.img"
python3 "$mkpattern" $((ro_sectors * 512)) "$dir/ro.img"

tests=pci,blk-id,blk-read,blk-write,blk-flush,blk-discard,blk-ro,blk-msix,blk-bad
set +e
"$root/scripts/qemu-guest.sh" -m 64M \
    --append "tests=$tests blk.capacity=$rw_sectors blk.serial=$serial" \
    -drive "file=$dir/rw.img,if=none,id=d0,format=raw,discard=unmap" \
    -device "virtio-blk-pci,drive=d0,serial=$serial" \
    -drive "file=$dir/ro.img,if=none,id=d1,format=raw,readonly=on" \
    -device virtio-blk-pci,drive=d1 \
    "${extra[@]}" 2>&1 | tee "$dir/guest.log"
guest_rc=${PIPESTATUS[0]}
set -e

images_rc=0
python3 "$mkpattern" --check "$dir/rw.img" --xor "$w" 8 --zero $((w + 64)) 8 --zero $((w + 128)) 8 || images_rc=1
python3 "$mkpattern" --check "$dir/ro.img" || images_rc=1

# blk.wait=1: QEMU is started directly (qemu-guest.sh closes stdin) with COM1 input from a FIFO.
wait_rc=0
wait_note="skipped"
if ((wait_run)); then
    wait_rc=1
    wait_note="failed"
    python3 "$mkpattern" $((rw_sectors * 512)) "$dir/wait.img"
    rm -f "$dir/com1.in"
    mkfifo "$dir/com1.in"
    timeout "${QEMU_GUEST_TIMEOUT:-120}" qemu-system-x86_64 -enable-kvm -machine pc -m 64M -nographic -no-reboot \
        -nic none -kernel "$root/guest/build/testguest.elf" -append "tests=blk-write blk.wait=1" \
        -device isa-debug-exit,iobase=0xf4,iosize=1 \
        -drive "file=$dir/wait.img,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0 \
        <"$dir/com1.in" >"$dir/wait.log" 2>&1 &
    qpid=$!
    exec 3>"$dir/com1.in"
    flushed=""
    for _ in $(seq 600); do
        flushed=$(grep -a -m1 '^BLK-FLUSHED ' "$dir/wait.log" | tr -d '\r' || true)
        [[ -n $flushed ]] && break
        kill -0 "$qpid" 2>/dev/null || break
        sleep 0.1
    done
    during=1
    if [[ $flushed == "BLK-FLUSHED sector=$w count=8" ]]; then
        python3 "$mkpattern" --check "$dir/wait.img" --xor "$w" 8 && during=0
    fi
    trap '' PIPE                     # QEMU may be gone already: a failed write, not a dead script
    printf 'x' >&3 2>/dev/null || true
    exec 3>&-
    trap - PIPE
    set +e
    wait "$qpid"
    qstatus=$?
    set -e
    grep -a -E '^(BLK-FLUSHED|TEST|RESULT)' "$dir/wait.log" | sed 's/^/wait-run: /'
    if [[ -z $flushed ]]; then
        wait_note="no BLK-FLUSHED line"
    elif ((during)); then
        wait_note="image not as expected while the guest waited ($flushed)"
    elif [[ $qstatus -ne 1 ]] || ! grep -a -q '^TEST blk-write PASS .*got=0x78' "$dir/wait.log"; then
        wait_note="blk-write did not pass after the byte (qemu status $qstatus)"
    else
        wait_rc=0
        wait_note="ok ($flushed, image checked while waiting)"
    fi
fi

result=$(grep -a -m1 '^RESULT ' "$dir/guest.log" | tr -d '\r' || true)
if [[ $guest_rc -eq 0 && $images_rc -eq 0 && $wait_rc -eq 0 ]]; then
    echo "qemu-blk: PASS (${result}; images as expected; blk.wait: $wait_note)"
    exit 0
fi
echo "qemu-blk: FAIL (guest rc=$guest_rc: ${result:-no RESULT line}; image check rc=$images_rc; blk.wait: $wait_note)"
exit 1
