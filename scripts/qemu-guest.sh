#!/usr/bin/env bash
# Runs the jkvm test guest under QEMU (KVM accelerated) through its PVH entry.
#
#   scripts/qemu-guest.sh [-m SIZE] [-smp N] [--append "tests=a,b cpus=N"] [extra qemu args...]
#
# Builds guest/build/testguest.elf first (make is incremental), prints the guest's serial
# output, and exits 0 iff the guest wrote 0 to the isa-debug-exit port (QEMU status 1) or
# powered off through ACPI S5 after printing S5-NOW (QEMU status 0).
# Other exits: 1 guest reported failures, 124 timeout (QEMU_GUEST_TIMEOUT, default 120 s),
# 2 QEMU failed or the guest never wrote to the debug-exit port.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
elf="$root/guest/build/testguest.elf"
mem=64M
smp=1
append=""
extra=()

while (($#)); do
    case "$1" in
        -m) mem=$2; shift 2 ;;
        -smp) smp=$2; shift 2 ;;
        --append) append=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) extra+=("$1"); shift ;;
    esac
done

if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "qemu-guest: installing qemu-system-x86" >&2
    apt-get install -y qemu-system-x86 >&2 || { apt-get update >&2 && apt-get install -y qemu-system-x86 >&2; }
fi

make -s -C "$root/guest"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

start=$(date +%s%N)
set +e
# -nographic puts COM1 on stdout; stdin is closed so the monitor mux stays idle.
# -nic none drops the default e1000 and its iPXE ROM (about 1 s of emulated BIOS time);
# tests that want a NIC add their own -netdev/-device.
# QEMU_REBOOT=1 lets a guest reset reboot the machine, as jkvm does without -no-reboot.
reboot=(-no-reboot)
[ "${QEMU_REBOOT:-0}" = 1 ] && reboot=()
timeout "${QEMU_GUEST_TIMEOUT:-120}" qemu-system-x86_64 -enable-kvm -machine pc \
    -m "$mem" -smp "$smp" -nographic "${reboot[@]}" -nic none \
    -kernel "$elf" -append "$append" \
    -device isa-debug-exit,iobase=0xf4,iosize=1 \
    "${extra[@]}" </dev/null | tee "$log"
status=${PIPESTATUS[0]}
set -e
ms=$(( ($(date +%s%N) - start) / 1000000 ))

result=$(grep -a -m1 '^RESULT ' "$log" | tr -d '\r' || true)
# QEMU also exits with 1 when it fails to start, so a pass needs the RESULT line too.
case $status in
    1) if [[ $result == *", 0 failed" ]]; then rc=0; verdict="guest passed"
       else rc=2; verdict="qemu exited with status 1 but the guest printed no passing RESULT"; fi ;;
    3) rc=1; verdict="guest reported failures" ;;
    124) rc=124; verdict="timed out" ;;
    # A guest that powers off (ACPI S5) ends QEMU with 0, and never prints RESULT.
    0) if [[ -z $result ]] && grep -a -q '^S5-NOW' "$log"; then rc=0; verdict="guest powered off (S5)"
       else rc=2; verdict="qemu exited with status 0 without a power-off"; fi ;;
    *) rc=2; verdict="qemu exited with status $status (no debug-exit write?)" ;;
esac
echo "qemu-guest: ${result:-no RESULT line} -- $verdict (qemu status $status, ${ms} ms)"
exit "$rc"
