package dev.jkvm.machine;

import dev.jkvm.backends.net.NetBackend;

/** Opens the host side of a -netdev; every problem is a one-line MachineException. */
final class NetBackendFactory {
    private NetBackendFactory() {
    }

    static NetBackend open(NetdevConfig netdev) {
        String kind = switch (netdev) {
            case NetdevConfig.Tap t -> "tap";
            case NetdevConfig.User u -> "user";
            case NetdevConfig.Socket s -> "socket";
        };
        throw new MachineException("-netdev " + kind + ": not supported yet");
    }
}
