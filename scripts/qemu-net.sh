#!/usr/bin/env bash
# Runs the test guest's NIC tests under QEMU (the reference for jkvm's virtio-net and e1000),
# including the host side of net-udp-echo and a two-VM net-peer run.
#
#   scripts/qemu-net.sh [--nic virtio|e1000|both] [--echo N] [--no-peer] [--keep DIR] [extra qemu-guest.sh args...]
#
# Per NIC type (default both), one VM on QEMU's user networking (libslirp) with a UDP host
# forward to the guest's echo port:
#     -netdev user,id=n0,hostfwd=udp:127.0.0.1:PORT-:7 -device virtio-net-pci|e1000,netdev=n0,mac=M,romfile=
# runs  pci,net-id,net-arp,net-dhcp,net-irq,net-udp-echo,net-arp  (virtio: net-udp-echo first, so
# slirp has to ARP for the guest, and net-bad too) with net.mac=M; once the guest prints NET-READY
# this script sends N datagrams (default 6, sizes 1..1472 bytes) to 127.0.0.1:PORT and requires
# each to come back unchanged (net.echo=N on the guest side).
# Then net-peer: two VMs joined by -netdev socket (TCP listen/connect on 127.0.0.1), the
# listening one with net.role=recv, the connecting one with net.role=send, different MACs. With
# --nic both this runs twice, virtio receiving from e1000 and e1000 receiving from virtio.
# --keep DIR keeps the logs in DIR. Exit 0 only if every run passes.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
guest="$root/scripts/qemu-guest.sh"
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
        --echo) echo_n=$2; shift 2 ;;
        --no-peer) peer=0; shift ;;
        --keep) keep=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
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

if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "qemu-net: installing qemu-system-x86" >&2
    apt-get install -y qemu-system-x86 >&2 || { apt-get update >&2 && apt-get install -y qemu-system-x86 >&2; }
fi
make -s -C "$root/guest"    # once, so the concurrent qemu-guest.sh runs below find nothing to build
# The guest's waits are "at least" (its TSC is assumed to run at <= 5 GHz), so net.wait=30 may
# last a few times longer: give QEMU room to end with the guest's own FAIL line.
export QEMU_GUEST_TIMEOUT=${QEMU_GUEST_TIMEOUT:-300}

device_of() { [[ $1 == virtio ]] && echo virtio-net-pci || echo e1000; }

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
    python3 - "$1" "$2" <<'EOF'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
sizes = [1, 18, 512, 1472, 64, 1000, 1471, 2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(2.0)
ok = 0
for i in range(n):
    size = sizes[i % len(sizes)]
    data = bytes(((i * 37 + k * 11 + 5) & 0xFF) for k in range(size))
    got = False
    for attempt in range(5):
        s.sendto(data, ("127.0.0.1", port))
        try:
            while True:
                reply, _ = s.recvfrom(4096)
                if reply == data:
                    got = True
                    break
        except socket.timeout:
            pass
        if got:
            break
    print(f"echo-client: datagram {i} ({size} bytes): {'echoed' if got else 'NO ECHO'}"
          + (f" after {attempt + 1} sends" if got and attempt else ""))
    ok += got
print(f"echo-client: {ok}/{n} echoed")
sys.exit(0 if ok == n else 1)
EOF
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
        tests=pci,net-id,net-arp,net-dhcp,net-irq,net-udp-echo,net-arp
    fi
    log="$dir/$nic.log"
    echo "qemu-net: $nic: tests=$tests (hostfwd udp 127.0.0.1:$port -> 10.0.2.15:7)"
    "$guest" -m 64M --append "tests=$tests net.nic=$nic net.mac=$mac net.echo=$echo_n net.prime=0 net.wait=30" \
        -netdev "user,id=n0,hostfwd=udp:127.0.0.1:$port-:7" \
        -device "$(device_of "$nic"),netdev=n0,mac=$mac,romfile=" \
        "${extra[@]}" >"$log" 2>&1 &
    qpid=$!
    pids+=("$qpid")
    client_rc=1
    if wait_line "$log" "NET-READY" 90 "$qpid"; then
        set +e
        echo_client "$port" "$echo_n" | tee "$dir/$nic-client.log"
        client_rc=${PIPESTATUS[0]}
        set -e
    else
        echo "qemu-net: $nic: no NET-READY line"
    fi
    set +e
    wait "$qpid"
    guest_rc=$?
    set -e
    grep -a -E '^(TEST|RESULT)|^qemu-system' "$log" | sed "s/^/$nic: /"
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
    echo "qemu-net: $name: socket 127.0.0.1:$port, recv=$rnic (listen) send=$snic (connect)"
    "$guest" -m 64M --append "tests=net-id,net-peer net.nic=$rnic net.role=recv net.wait=30" \
        -netdev "socket,id=n0,listen=127.0.0.1:$port" \
        -device "$(device_of "$rnic"),netdev=n0,mac=52:54:00:00:00:01,romfile=" \
        "${extra[@]}" >"$dir/$name-recv.log" 2>&1 &
    local rpid=$!
    pids+=("$rpid")
    local srv_rc=2 snd_rc=2
    if wait_tcp_listen "$port"; then
        "$guest" -m 64M --append "tests=net-id,net-peer net.nic=$snic net.role=send net.wait=30" \
            -netdev "socket,id=n0,connect=127.0.0.1:$port" \
            -device "$(device_of "$snic"),netdev=n0,mac=52:54:00:00:00:02,romfile=" \
            "${extra[@]}" >"$dir/$name-send.log" 2>&1 &
        local spid=$!
        pids+=("$spid")
        set +e
        wait "$spid"
        snd_rc=$?
        set -e
    else
        echo "qemu-net: $name: the receiving QEMU never listened on $port"
        kill "$rpid" 2>/dev/null || true
    fi
    set +e
    wait "$rpid"
    srv_rc=$?
    set -e
    grep -a -E '^(TEST|RESULT)|^qemu-system' "$dir/$name-recv.log" | sed "s/^/$name recv: /" || true
    grep -a -E '^(TEST|RESULT)|^qemu-system' "$dir/$name-send.log" 2>/dev/null | sed "s/^/$name send: /" || true
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

for s in "${summary[@]}"; do echo "qemu-net: $s"; done
if ((rc == 0)); then echo "qemu-net: PASS"; else echo "qemu-net: FAIL"; fi
exit "$rc"
