#!/usr/bin/env python3
"""The host side of the test guest's net-udp-echo.

    udp-echo-client.py HOST PORT COUNT [--bind ADDR]

Sends COUNT datagrams (sizes 1, 18, 512, 1472, 64, 1000, 1471, 2, then again; datagram i holds
byte (i * 37 + k * 11 + 5) & 0xff at offset k) to HOST:PORT from ADDR (default 127.0.0.1), one
at a time, and requires each to come back unchanged from HOST:PORT. A datagram is sent again, up
to 5 times in all, only when no echo arrived within 2 s. Prints one line per datagram and
`echo-client: N/COUNT echoed`; exits 0 iff all were echoed.
Used by scripts/qemu-net.sh (through a host forward) and NetworkIT (inside a network namespace).
"""
import socket
import sys

SIZES = [1, 18, 512, 1472, 64, 1000, 1471, 2]


def main(argv):
    args = list(argv[1:])
    bind = "127.0.0.1"
    if "--bind" in args:
        i = args.index("--bind")
        bind = args[i + 1]
        del args[i:i + 2]
    if len(args) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    host, port, n = args[0], int(args[1]), int(args[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind, 0))
    s.settimeout(2.0)
    ok = 0
    for i in range(n):
        size = SIZES[i % len(SIZES)]
        data = bytes(((i * 37 + k * 11 + 5) & 0xFF) for k in range(size))
        got = False
        for attempt in range(5):
            s.sendto(data, (host, port))
            try:
                while True:
                    reply, peer = s.recvfrom(4096)
                    if reply == data and peer == (host, port):
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
    return 0 if ok == n else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
