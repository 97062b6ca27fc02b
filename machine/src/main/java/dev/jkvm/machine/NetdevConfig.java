package dev.jkvm.machine;

import java.util.List;

/** A -netdev: the host side of a NIC, by kind. The NIC models name it by {@link #id()}. */
public sealed interface NetdevConfig {
    String id();

    /**
     * -netdev tap: a host tap interface.
     *
     * @param fd an already-open tap fd handed over by the caller (fd=), or -1
     */
    record Tap(String id, String ifname, String script, String downscript, boolean vnetHdr, int queues, int fd) implements NetdevConfig {
    }

    /** -netdev user: user-mode networking through libslirp. */
    record User(String id, String net, String host, String dns, String dhcpStart, boolean restrict, List<String> hostForwards) implements NetdevConfig {
    }

    /**
     * QEMU's default network, which a command line with no -nic, -net or -netdev gets: user
     * networking with libslirp's defaults. Unlike an explicit -netdev user it is opened when its
     * NIC first uses it, so that a guest that never touches the NIC never pays for libslirp.
     */
    record QemuDefault(String id) implements NetdevConfig {
    }

    /** -netdev socket: frames over a TCP stream to another VMM, in QEMU's wire format. */
    record Socket(String id, String listen, String connect) implements NetdevConfig {
    }
}
