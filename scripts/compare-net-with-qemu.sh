#!/usr/bin/env bash
# Differential test of the NICs: runs scripts/qemu-net.sh under QEMU 7.2 and under jkvm (--vmm
# jkvm) with the same guest tests and options, and requires, for every VM of every run, the same
# `TEST name PASS|FAIL` verdicts and RESULT line (the detail after a verdict may differ, as in
# scripts/compare-with-qemu.sh), the same echo-client result on the host side of net-udp-echo,
# and the same per-run PASS/FAIL summary.
#
#   scripts/compare-net-with-qemu.sh [--nic virtio|e1000|both] [--keep DIR]
#
# Runs (per NIC model, default both): one VM on -netdev user with a UDP host forward to the
# guest's echo port (pci, net-id, net-arp, net-dhcp, net-irq, net-udp-echo, virtio also net-bad),
# and net-peer between two VMs on -netdev socket (with both models: virtio <- e1000 and e1000 <-
# virtio). --keep DIR keeps both sides' logs in DIR/qemu and DIR/jkvm. Exit 0 only if they agree
# and jkvm printed verdicts at all.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
nic=both
keep=""
while (($#)); do
    case "$1" in
        --nic) nic=$2; shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "compare-net-with-qemu: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [[ -n $keep ]]; then
    dir=$keep
    rm -rf "$dir/qemu" "$dir/jkvm"
    mkdir -p "$dir"
else
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
fi

verdicts() {
    # "TEST name PASS|FAIL" and "RESULT ..." lines; the detail after the verdict may differ between VMMs.
    tr -d '\r' | LC_ALL=C sed -nE 's/^(TEST [a-z0-9_-]+ (PASS|FAIL))( .*)?$/\1/p; /^RESULT /p'
}
# The per-run summary lines of qemu-net.sh without the VMM name and the failure detail.
summary() {
    grep -a -E "^qemu-net: $1 [a-z0-9-]+: (PASS|FAIL)" | sed -E "s/^qemu-net: $1 //; s/: (PASS|FAIL).*/: \1/" || true
}

declare -A status
for vmm in qemu jkvm; do
    start=$SECONDS
    set +e
    "$root/scripts/qemu-net.sh" --vmm "$vmm" --nic "$nic" --keep "$dir/$vmm" >"$dir/$vmm.out" 2>&1
    status[$vmm]=$?
    set -e
    echo "compare-net-with-qemu: $vmm: $(tail -n 1 "$dir/$vmm.out") ($((SECONDS - start)) s)"
done

failed=0
shopt -s nullglob
logs=()
for f in "$dir"/qemu/*.log "$dir"/jkvm/*.log; do
    name=$(basename "$f")
    [[ " ${logs[*]} " == *" $name "* ]] || logs+=("$name")
done
for name in "${logs[@]}"; do
    [[ $name == *-client.log ]] && continue
    qv=$(verdicts <"$dir/qemu/$name" 2>/dev/null || true)
    jv=$(verdicts <"$dir/jkvm/$name" 2>/dev/null || true)
    qr=$(grep -a '^RESULT' "$dir/qemu/$name" 2>/dev/null | tr -d '\r' | head -1 || true)
    jr=$(grep -a '^RESULT' "$dir/jkvm/$name" 2>/dev/null | tr -d '\r' | head -1 || true)
    printf '%-34s jkvm: %-26s qemu: %s\n' "${name%.log}" "${jr:-no RESULT}" "${qr:-no RESULT}"
    if [[ -z $jv || $jv != "$qv" ]]; then
        echo "MISMATCH in ${name%.log}: verdicts (< jkvm, > qemu)"
        diff <(echo "$jv") <(echo "$qv") || true
        echo "--- jkvm output"; cat "$dir/jkvm/$name" "$dir/jkvm/$name.err" 2>/dev/null || echo "(none)"
        echo "--- qemu output"; cat "$dir/qemu/$name" "$dir/qemu/$name.err" 2>/dev/null || echo "(none)"
        failed=1
    fi
done
for f in "$dir"/qemu/*-client.log; do
    name=$(basename "$f")
    qc=$(tail -n 1 "$f")
    jc=$(tail -n 1 "$dir/jkvm/$name" 2>/dev/null || echo "no echo client run")
    printf '%-34s jkvm: %-26s qemu: %s\n' "${name%.log}" "$jc" "$qc"
    if [[ $jc != "$qc" ]]; then
        echo "MISMATCH in ${name%.log}: the host side of net-udp-echo"
        cat "$dir/jkvm/$name" 2>/dev/null || true
        failed=1
    fi
done
qs=$(summary qemu <"$dir/qemu.out")
js=$(summary jkvm <"$dir/jkvm.out")
if [[ -z $js || $js != "$qs" ]]; then
    echo "MISMATCH in the run summaries (< jkvm, > qemu)"
    diff <(echo "$js") <(echo "$qs") || true
    failed=1
fi
if ((failed)); then
    echo "--- scripts/qemu-net.sh --vmm jkvm"; cat "$dir/jkvm.out"
    echo "--- scripts/qemu-net.sh --vmm qemu"; cat "$dir/qemu.out"
    echo "compare-net-with-qemu: jkvm and QEMU disagree"
    exit 1
fi
echo "compare-net-with-qemu: jkvm and QEMU print the same verdicts and RESULT lines (qemu-net.sh status: jkvm ${status[jkvm]}, qemu ${status[qemu]})"
