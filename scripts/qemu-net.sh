#!/usr/bin/env bash
# Runs the test guest's NIC tests under QEMU (the reference for jkvm's virtio-net and e1000),
# or with --vmm jkvm the same runs under jkvm, including the host side of net-udp-echo and a
# two-VM net-peer run. scripts/compare-net-with-qemu.sh runs both and compares their verdicts.
#
#   scripts/qemu-net.sh [--vmm qemu|jkvm] [--nic virtio|e1000|both] [--echo N] [--no-peer] [--keep DIR] [extra VMM args...]
#
# Per NIC type (default both), one VM on QEMU's user networking (libslirp) with a UDP host
# forward to the guest's echo port:
#     -netdev user,id=n0,hostfwd=udp:127.0.0.1:PORT-:7 -device virtio-net-pci|e1000,netdev=n0,mac=M,romfile=
# runs  pci,net-id,net-arp,net-dhcp,net-irq,net-udp-echo,net-bad,net-arp  (virtio: net-udp-echo
# first, so slirp has to ARP for the guest) with net.mac=M; once the guest prints NET-READY
# this script sends N datagrams (default 6, sizes 1..1472 bytes) to 127.0.0.1:PORT and requires
# each to come back unchanged (net.echo=N on the guest side).
# Then net-peer: two VMs joined by -netdev socket (TCP listen/connect on 127.0.0.1), the
# listening one with net.role=recv, the connecting one with net.role=send, different MACs. With
# --nic both this runs twice, virtio receiving from e1000 and e1000 receiving from virtio.
# --vmm jkvm runs ./jkvm with the same -m, -append, -netdev and -device (no romfile=: jkvm has no
# option ROMs) and the debug-exit port; its status is mapped as scripts/qemu-guest.sh maps QEMU's.
# --keep DIR keeps the logs in DIR: <nic>.log, peer-<recv>-from-<send>-recv|send.log, the VMs'
# serial output, each with a .log.err of the VMM's own messages. Exit 0 only if every run passes.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
guest="$root/scripts/qemu-guest.sh"
vmm=qemu
nics=(virtio e1000)
echo_n=6
peer=1
keep=""
extra=()
while (($#)); do
    case "$1" in
        --nic)
            case "$2" in
                both) nics=(virtio e1000) ;;
                virtio|e1000) nics=("$2") ;;
                *) echo "qemu-net: --nic virtio|e1000|both" >&2; exit 2 ;;
            esac
            shift 2 ;;
        --vmm)
            case "$2" in
                qemu|jkvm) vmm=$2 ;;
                *) echo "qemu-net: --vmm qemu|jkvm" >&2; exit 2 ;;
            esac
            shift 2 ;;
        --echo) echo_n=$2; shift 2 ;;
        --no-peer) peer=0; shift ;;
        --keep) keep=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) extra+=("$1"); shift ;;
    esac
done

if [[ -n $keep ]]; then
    dir=$keep
    mkdir -p "$dir"
else
    dir=$(mktemp -d)
fi
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -n $keep ]] || rm -rf "$dir"
}
trap cleanup EXIT

if [[ $vmm == qemu ]] && ! command -v qemu-system-x86_64 >/dev/null; then
    echo "qemu-net: installing qemu-system-x86" >&2
    apt-get install -y qemu-system-x86 >&2 || { apt-get update >&2 && apt-get install -y qemu-system-x86 >&2; }
fi
make -s -C "$root/guest"    # once, so the concurrent VM runs below find nothing to build
if [[ $vmm == jkvm ]]; then
    # Once too: ./jkvm rebuilds when sources changed, and two VMs of a peer run must not both do it.
    "$root/scripts/build" >/dev/null 2>&1 || "$root/scripts/build"
fi
# The guest's waits are "at least" (its TSC is assumed to run at <= 5 GHz), so net.wait=30 may
# last a few times longer: give the VMM room to end with the guest's own FAIL line.
export QEMU_GUEST_TIMEOUT=${QEMU_GUEST_TIMEOUT:-300}

device_of() { [[ $1 == virtio ]] && echo virtio-net-pci || echo e1000; }

# start_vm LOG APPEND NETDEV DEVICE: boots the test guest in the background on $vmm with one NIC
# (DEVICE is "model,netdev=n0,mac=M"), serial output to LOG and the VMM's own messages to LOG.err
# (apart, so that a message written while the guest prints cannot split a TEST or RESULT line);
# sets vm_pid.
start_vm() {
    local log=$1 append=$2 netdev=$3 device=$4
    if [[ $vmm == qemu ]]; then
        "$guest" -m 64M --append "$append" -netdev "$netdev" -device "$device,romfile=" \
            "${extra[@]}" >"$log" 2>"$log.err" &
    else
        timeout "$QEMU_GUEST_TIMEOUT" "$root/jkvm" -m 64M -kernel "$root/guest/build/testguest.elf" -append "$append" \
            -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=1 -netdev "$netdev" -device "$device" \
            "${extra[@]}" </dev/null >"$log" 2>"$log.err" &
    fi
    vm_pid=$!
    pids+=("$vm_pid")
}

# finish_vm PID LOG: waits for the VM and sets vm_rc to qemu-guest.sh's status for it (0 = the
# guest passed, 1 = it reported failures, 124 = timed out, 2 = anything else). Not in $(...):
# a subshell cannot wait for the VM.
finish_vm() {
    local pid=$1 log=$2 status result
    set +e
    wait "$pid"
    status=$?
    set -e
    vm_rc=$status
    [[ $vmm == qemu ]] && return
    result=$(grep -a -m1 '^RESULT ' "$log" | tr -d '\r' || true)
    case $status in
        1) if [[ $result == *", 0 failed" ]]; then vm_rc=0; else vm_rc=2; fi ;;
        3) vm_rc=1 ;;
        124) vm_rc=124 ;;
        *) vm_rc=2 ;;
    esac
}

# A VM's verdicts and its VMM's own messages, for the summary.
show_log() {   # LOG PREFIX
    grep -a -E '^(TEST|RESULT)' "$1" 2>/dev/null | tr -d '\r' | sed "s/^/$2: /" || true
    grep -a -E '^qemu-system|^jkvm' "$1.err" 2>/dev/null | sed "s/^/$2: /" || true
}

free_port() {   # $1 = tcp|udp
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
EOF
}

# Waits (up to $3 s) for a line starting with $2 in log $1 while process $4 lives.
wait_line() {
    local log=$1 pat=$2 secs=$3 pid=$4
    for _ in $(seq $((secs * 10))); do
        grep -a -q "^$pat" "$log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Host side of net-udp-echo: N datagrams to 127.0.0.1:PORT, each must come back unchanged.
echo_client() {
    python3 "$root/guest/tools/udp-echo-client.py" 127.0.0.1 "$1" "$2"
}

wait_tcp_listen() {   # port: until something listens on 127.0.0.1:port (without connecting to it)
    local hex
    hex=$(printf '%04X' "$1")
    for _ in $(seq 100); do
        grep -q ":$hex 00000000:0000 0A" /proc/net/tcp 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

summary=()
rc=0

# ---- one VM per NIC type: slirp, host forward, echo ------------------------------------------
for nic in "${nics[@]}"; do
    mac=52:54:00:12:34:56
    port=$(free_port udp)
    # virtio: the echo comes first and without the priming ARP (net.prime=0), so slirp has to
    # resolve the guest with an ARP request the guest answers; e1000: last, after net-arp.
    if [[ $nic == virtio ]]; then
        tests=net-udp-echo,pci,net-id,net-arp,net-dhcp,net-irq,net-bad,net-arp
    else
        tests=pci,net-id,net-arp,net-dhcp,net-irq,net-udp-echo,net-bad,net-arp
    fi
    log="$dir/$nic.log"
    echo "qemu-net: $vmm $nic: tests=$tests (hostfwd udp 127.0.0.1:$port -> 10.0.2.15:7)"
    start_vm "$log" "tests=$tests net.nic=$nic net.mac=$mac net.echo=$echo_n net.prime=0 net.wait=30" \
        "user,id=n0,hostfwd=udp:127.0.0.1:$port-:7" "$(device_of "$nic"),netdev=n0,mac=$mac"
    qpid=$vm_pid
    client_rc=1
    if wait_line "$log" "NET-READY" 90 "$qpid"; then
        set +e
        echo_client "$port" "$echo_n" | tee "$dir/$nic-client.log"
        client_rc=${PIPESTATUS[0]}
        set -e
    else
        echo "qemu-net: $vmm $nic: no NET-READY line"
    fi
    finish_vm "$qpid" "$log"
    guest_rc=$vm_rc
    show_log "$log" "$nic"
    if [[ $guest_rc -eq 0 && $client_rc -eq 0 ]]; then
        summary+=("$nic: PASS")
    else
        summary+=("$nic: FAIL (guest rc=$guest_rc, echo client rc=$client_rc)")
        rc=1
    fi
done

# ---- net-peer: two VMs on -netdev socket ----------------------------------------------------
peer_run() {   # $1 = receiver NIC (listens), $2 = sender NIC (connects)
    local rnic=$1 snic=$2 port name="peer-$1-from-$2"
    port=$(free_port tcp)
    echo "qemu-net: $vmm $name: socket 127.0.0.1:$port, recv=$rnic (listen) send=$snic (connect)"
    start_vm "$dir/$name-recv.log" "tests=net-id,net-peer net.nic=$rnic net.role=recv net.wait=30" \
        "socket,id=n0,listen=127.0.0.1:$port" "$(device_of "$rnic"),netdev=n0,mac=52:54:00:00:00:01"
    local rpid=$vm_pid
    local srv_rc=2 snd_rc=2
    if wait_tcp_listen "$port"; then
        start_vm "$dir/$name-send.log" "tests=net-id,net-peer net.nic=$snic net.role=send net.wait=30" \
            "socket,id=n0,connect=127.0.0.1:$port" "$(device_of "$snic"),netdev=n0,mac=52:54:00:00:00:02"
        finish_vm "$vm_pid" "$dir/$name-send.log"
        snd_rc=$vm_rc
    else
        echo "qemu-net: $vmm $name: the receiving VM never listened on $port"
        kill "$rpid" 2>/dev/null || true
    fi
    finish_vm "$rpid" "$dir/$name-recv.log"
    srv_rc=$vm_rc
    show_log "$dir/$name-recv.log" "$name recv"
    show_log "$dir/$name-send.log" "$name send"
    if [[ $srv_rc -eq 0 && $snd_rc -eq 0 ]]; then
        summary+=("$name: PASS")
    else
        summary+=("$name: FAIL (recv rc=$srv_rc, send rc=$snd_rc)")
        rc=1
    fi
}

if ((peer)); then
    if ((${#nics[@]} == 2)); then
        peer_run virtio e1000
        peer_run e1000 virtio
    else
        peer_run "${nics[0]}" "${nics[0]}"
    fi
fi

for s in "${summary[@]}"; do echo "qemu-net: $vmm $s"; done
if ((rc == 0)); then echo "qemu-net: $vmm PASS"; else echo "qemu-net: $vmm FAIL"; fi
exit "$rc"
