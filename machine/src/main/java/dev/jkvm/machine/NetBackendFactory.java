package dev.jkvm.machine;

import dev.jkvm.backends.net.NetBackend;
import dev.jkvm.backends.net.NetBackendException;
import dev.jkvm.backends.net.SocketBackend;
import dev.jkvm.backends.net.TapBackend;
import dev.jkvm.backends.net.slirp.SlirpBackend;
import dev.jkvm.backends.net.slirp.SlirpException;
import dev.jkvm.backends.net.slirp.SlirpUnavailableException;
import dev.jkvm.backends.net.slirp.UserNetOptions;

import java.time.Duration;
import java.util.function.Consumer;

/** Opens the host side of a -netdev; every problem is a one-line MachineException. */
final class NetBackendFactory {
    /** How long connect= waits for the peer to answer before the VM fails to start. */
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

    private NetBackendFactory() {
    }

    static NetBackend open(NetdevConfig netdev) {
        return switch (netdev) {
            case NetdevConfig.Tap t -> openTap(t);
            case NetdevConfig.User u -> openUser(u);
            case NetdevConfig.Socket s -> openSocket(s);
            case NetdevConfig.QemuDefault d -> new DeferredNetBackend(
                    () -> openUser(new NetdevConfig.User(d.id(), null, null, null, null, false, java.util.List.of())),
                    notices("user", d.id()));
        };
    }

    /** What a backend tells the user that is not an error, on stderr as "jkvm: -netdev KIND,id=ID: ...". */
    private static Consumer<String> notices(String kind, String id) {
        return message -> System.err.println("jkvm: -netdev " + kind + ",id=" + id + ": " + message);
    }

    private static NetBackend openTap(NetdevConfig.Tap t) {
        try {
            return TapBackend.open(new TapBackend.Options(t.ifname(), t.script(), t.downscript(), t.vnetHdr(), t.queues(), t.fd()),
                    notices("tap", t.id()));
        } catch (NetBackendException e) {
            throw new MachineException("-netdev tap,id=" + t.id() + ": " + e.getMessage());
        }
    }

    /** -netdev user: libslirp through FFM, bound only now (a machine without user networking never loads it). */
    private static NetBackend openUser(NetdevConfig.User u) {
        try {
            UserNetOptions options = UserNetOptions.parse(u.net(), u.host(), u.dns(), u.dhcpStart(), u.restrict(), u.hostForwards());
            return new SlirpBackend(options);
        } catch (SlirpUnavailableException e) {
            // Already a whole line: "-netdev user needs libslirp (Debian package libslirp0): apt-get install libslirp0".
            throw new MachineException(e.getMessage());
        } catch (SlirpException e) {
            throw new MachineException("-netdev user,id=" + u.id() + ": " + e.getMessage());
        }
    }

    private static NetBackend openSocket(NetdevConfig.Socket s) {
        if ((s.listen() == null) == (s.connect() == null)) {
            throw new MachineException("-netdev socket,id=" + s.id() + ": exactly one of listen= and connect= is needed");
        }
        try {
            return s.listen() != null
                    ? SocketBackend.listen(s.listen(), notices("socket", s.id()))
                    : SocketBackend.connect(s.connect(), CONNECT_TIMEOUT, notices("socket", s.id()));
        } catch (NetBackendException e) {
            throw new MachineException("-netdev socket,id=" + s.id() + ": " + e.getMessage());
        }
    }
}
