package dev.jkvm.cli;

import dev.jkvm.backends.net.MacAddress;
import dev.jkvm.machine.DeviceConfig;
import dev.jkvm.machine.MachineConfig;
import dev.jkvm.machine.NetdevConfig;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * QEMU's network options: -netdev (a host backend), -nic (a backend and its NIC in one), the legacy
 * -net, and the NIC devices (-device virtio-net-pci | e1000). NICs without a mac= get QEMU's
 * defaults, 52:54:00:12:34:56 and on, in QEMU's order: -nic and -net NICs first, then -device.
 */
final class NetOptions {
    /** QEMU netdev types jkvm does not have yet, so the message can say "not yet". */
    private static final Set<String> PLANNED_NETDEVS = Set.of(
            "bridge", "l2tpv3", "vde", "netmap", "vhost-user", "vhost-vdpa", "stream", "dgram", "hubport", "af-xdp");
    /** Other NIC models QEMU's pc machine has. */
    private static final Set<String> OTHER_MODELS = Set.of(
            "e1000e", "rtl8139", "ne2k_pci", "ne2k_isa", "pcnet", "i82550", "i82551", "i82557a", "i82557b", "i82557c",
            "i82558a", "i82558b", "i82559a", "i82559b", "i82559c", "i82559er", "i82562", "i82801", "vmxnet3", "igb",
            "usb-net", "tulip");
    static final String MODELS = "e1000, virtio-net-pci";
    /** The kernel's limit on one tap's queues. */
    private static final int MAX_TAP_QUEUES = 256;

    private final Map<String, NetdevConfig> netdevs = new LinkedHashMap<>();
    /** NICs made by -nic and -net, in order; they come before -device NICs, as QEMU creates them. */
    /** The id of QEMU's default netdev; no -netdev can clash with it, since any -netdev turns the default off. */
    static final String DEFAULT_NETDEV = "user.0";

    private final List<DeviceConfig> boardNics = new ArrayList<>();

    private NetOptions() {
    }

    /**
     * Adds every -netdev to {@code b}, then the -nic and -net NICs, then {@code devices} (the parsed
     * -device list, in order) with default MACs filled in and each NIC's netdev checked.
     */
    static void apply(MachineConfig.Builder b, JkvmOptions o, List<DeviceConfig> devices) {
        NetOptions net = new NetOptions();
        for (String text : o.netdevs) {
            net.netdev(text);
        }
        for (int i = 0; i < o.nics.size(); i++) {
            net.nic(o.nics.get(i), i);
        }
        net.legacyNet(o.nets);
        if (o.netdevs.isEmpty() && o.nics.isEmpty() && o.nets.isEmpty() && !o.noDefaults) {
            // QEMU's default: an e1000 on user networking, as "-net nic -net user". libslirp is
            // not even looked for until the guest drives the NIC (a missing one is reported then).
            net.add(new NetdevConfig.QemuDefault(DEFAULT_NETDEV));
            net.boardNics.add(new DeviceConfig.E1000(DEFAULT_NETDEV, null, -1));
        }
        List<DeviceConfig> all = new ArrayList<>(net.boardNics);
        all.addAll(devices);
        net.netdevs.values().forEach(b::netdev);
        for (DeviceConfig d : net.resolveNics(all)) {
            b.device(d);
        }
    }

    // ---- -netdev ----

    private void netdev(String text) {
        Props p = Props.parse("-netdev", text, "type");
        String type = p.opts.take("type");
        if (type == null) {
            throw new CliException("-netdev " + text + ": no backend type (user, tap or socket)");
        }
        String id = p.opts.take("id");
        if (id == null) {
            throw new CliException("-netdev " + text + ": id= is needed (a NIC names its netdev by it)");
        }
        checkId("-netdev " + text, id);
        add(backend("-netdev " + text, type, id, p));
    }

    private void add(NetdevConfig netdev) {
        if (netdevs.putIfAbsent(netdev.id(), netdev) != null) {
            throw new CliException("-netdev id=" + netdev.id() + ": duplicate ID '" + netdev.id() + "' for netdev");
        }
    }

    /** QEMU's id_wellformed: a letter, then letters, digits, '-', '.', '_'. */
    private static void checkId(String context, String id) {
        boolean ok = !id.isEmpty() && Character.isLetter(id.charAt(0)) && id.chars().allMatch(c -> c < 128
                && (Character.isLetterOrDigit(c) || c == '-' || c == '.' || c == '_'));
        if (!ok) {
            throw new CliException(context + ": id=" + id + " is not an identifier (a letter, then letters, digits, '-', '.', '_')");
        }
    }

    /** A netdev of {@code type} from its properties; everything but the type and id is still in {@code p}. */
    private static NetdevConfig backend(String context, String type, String id, Props p) {
        if (!type.equals("user") && !p.hostForwards.isEmpty()) {
            throw new CliException(context + ": hostfwd= belongs to user networking, not " + type);
        }
        return switch (type) {
            case "user" -> user(context, id, p);
            case "tap" -> tap(context, id, p.opts);
            case "socket" -> socket(context, id, p.opts);
            default -> {
                if (PLANNED_NETDEVS.contains(type)) {
                    throw new CliException(context + ": netdev type '" + type + "' is not supported yet (user, tap and socket are)");
                }
                throw new CliException(context + ": '" + type + "' is not a network backend type (user, tap or socket)");
            }
        };
    }

    /** user: libslirp's addresses and forwards, as strings for the user backend to check (null means its default). */
    private static NetdevConfig user(String context, String id, Props p) {
        QemuOpts opts = p.opts;
        String net = opts.take("net");
        String host = opts.take("host");
        String dns = opts.take("dns");
        String dhcpStart = opts.take("dhcpstart");
        boolean restrict = opts.takeBoolean("restrict", false);
        opts.requireAllTaken("user");
        return new NetdevConfig.User(id, net, host, dns, dhcpStart, restrict, List.copyOf(p.hostForwards));
    }

    private static NetdevConfig tap(String context, String id, QemuOpts opts) {
        String fdText = opts.take("fd");
        boolean configured = opts.has("ifname") || opts.has("script") || opts.has("downscript") || opts.has("vnet_hdr") || opts.has("queues");
        String ifname = opts.take("ifname");
        String script = opts.take("script");
        String downscript = opts.take("downscript");
        boolean vnetHdr = opts.takeBoolean("vnet_hdr", true);
        long queues = opts.takeNumber("queues", 1);
        if (opts.takeBoolean("vhost", false)) {
            throw new CliException(context + ": vhost=on needs vhost-net, which jkvm does not use (its virtio-net runs in user space)");
        }
        opts.requireAllTaken("tap");
        if (queues < 1 || queues > MAX_TAP_QUEUES) {
            throw new CliException(context + ": queues=" + queues + " must be from 1 to " + MAX_TAP_QUEUES);
        }
        if (ifname != null && (ifname.isEmpty() || ifname.length() > 15 || ifname.contains("/") || ifname.contains(" "))) {
            throw new CliException(context + ": ifname=" + ifname + " is not an interface name (1 to 15 characters)");
        }
        int fd = -1;
        if (fdText != null) {
            if (configured) {
                throw new CliException(context + ": ifname=, script=, downscript=, vnet_hdr= and queues= are invalid with fd=");
            }
            try {
                fd = Integer.parseInt(fdText);
            } catch (NumberFormatException e) {
                fd = -1;
            }
            if (fd < 0) {
                throw new CliException(context + ": fd=" + fdText + " is not a file descriptor number");
            }
        }
        return new NetdevConfig.Tap(id, ifname, script, downscript, vnetHdr, (int) queues, fd);
    }

    private static NetdevConfig socket(String context, String id, QemuOpts opts) {
        String listen = opts.take("listen");
        String connect = opts.take("connect");
        for (String other : List.of("mcast", "udp", "localaddr", "fd")) {
            if (opts.has(other)) {
                throw new CliException(context + ": " + other + "= is not supported yet (listen= and connect= are)");
            }
        }
        opts.requireAllTaken("socket");
        if ((listen == null) == (connect == null)) {
            throw new CliException(context + ": exactly one of listen= and connect= is needed");
        }
        String address = listen != null ? listen : connect;
        int colon = address.lastIndexOf(':');
        boolean portOk = colon >= 0 && address.substring(colon + 1).matches("[0-9]{1,5}")
                && Integer.parseInt(address.substring(colon + 1)) <= 65535;
        if (!portOk) {
            throw new CliException(context + ": " + (listen != null ? "listen=" : "connect=") + address + " is not "
                    + (listen != null ? "[HOST]:PORT" : "HOST:PORT"));
        }
        return new NetdevConfig.Socket(id, listen, connect);
    }

    // ---- -nic ----

    /** -nic TYPE[,model=][,mac=][,id=][,backend properties]: QEMU's default type is user, its pc model e1000. */
    private void nic(String text, int index) {
        Props p = Props.parse("-nic", text, "type");
        String type = p.opts.take("type", "user");
        if (type.equals("none")) {
            p.opts.requireAllTaken("none");
            return;
        }
        String context = "-nic " + text;
        String model = p.opts.take("model", "e1000");
        String mac = mac(context, p.opts.take("mac"));
        String id = p.opts.take("id");
        if (id != null) {
            checkId(context, id);
        } else {
            id = "__org.qemu.nic" + index;
        }
        add(backend(context, type, id, p));
        boardNics.add(nicFor(context, model, id, mac, -1));
    }

    private static DeviceConfig nicFor(String context, String model, String netdev, String mac, int slot) {
        return switch (model) {
            case "e1000", "e1000-82540em" -> new DeviceConfig.E1000(netdev, mac, slot);
            case "virtio", "virtio-net-pci", "virtio-net" -> new DeviceConfig.VirtioNetPci(netdev, mac, false, slot);
            case "help", "?" -> throw new CliException(context + ": NIC models jkvm has: " + MODELS);
            default -> throw new CliException(context + ": NIC model '" + model + "' is "
                    + (OTHER_MODELS.contains(model) ? "not supported" : "unknown") + " (jkvm has " + MODELS + ")");
        };
    }

    // ---- -net ----

    /**
     * Legacy -net: NICs (-net nic) and backends (-net user|tap|socket) meet on QEMU's hub 0. jkvm has
     * no hub, so it joins them when that means one NIC with one backend; -net nic,netdev=ID joins a
     * -netdev directly.
     */
    private void legacyNet(List<String> nets) {
        List<DeviceConfig> hubNics = new ArrayList<>();
        List<NetdevConfig> hubBackends = new ArrayList<>();
        int index = 0;
        for (String text : nets) {
            String context = "-net " + text;
            Props p = Props.parse("-net", text, "type");
            String type = p.opts.take("type");
            if (type == null) {
                throw new CliException(context + ": no type (nic, user, tap, socket or none)");
            }
            if (type.equals("none")) {
                p.opts.requireAllTaken("none");
                continue;
            }
            if (type.equals("nic")) {
                String model = p.opts.take("model", "e1000");
                String mac = mac(context, p.opts.take("macaddr"));
                String netdev = p.opts.take("netdev");
                String addr = p.opts.take("addr");
                int slot = addr == null ? -1 : MachineOptions.pciSlot(addr, context);
                p.opts.take("name");
                p.opts.requireAllTaken("nic");
                DeviceConfig nic = nicFor(context, model, netdev == null ? "" : netdev, mac, slot);
                (netdev == null ? hubNics : boardNics).add(nic);
                continue;
            }
            String id = p.opts.take("id");
            String name = p.opts.take("name");
            id = id != null ? id : name != null ? name : "__org.qemu.net" + index++;
            NetdevConfig backend = backend(context, type, id, p);
            add(backend);
            hubBackends.add(backend);
        }
        if (hubNics.isEmpty()) {
            return;
        }
        if (hubBackends.size() != 1 || hubNics.size() != 1) {
            throw new CliException("-net: " + hubNics.size() + " NIC(s) and " + hubBackends.size() + " backend(s) on hub 0, but jkvm "
                    + "has no hub: give one -net nic and one -net backend, or use -netdev with -device (or -nic)");
        }
        String id = hubBackends.get(0).id();
        boardNics.add(switch (hubNics.get(0)) {
            case DeviceConfig.E1000 e -> new DeviceConfig.E1000(id, e.mac(), e.slot());
            case DeviceConfig.VirtioNetPci v -> new DeviceConfig.VirtioNetPci(id, v.mac(), v.mq(), v.slot());
            default -> throw new IllegalStateException();
        });
    }

    // ---- -device virtio-net-pci | e1000 ----

    static boolean isNicDriver(String driver) {
        return Set.of("virtio-net-pci", "virtio-net", "e1000", "e1000-82540em").contains(driver);
    }

    /** A NIC from -device DRIVER,netdev=ID[,mac=][,mq=][,addr=]; the driver is already taken from {@code opts}. */
    static DeviceConfig nicDevice(String driver, QemuOpts opts, String text) {
        String context = "-device " + text;
        String netdev = opts.take("netdev");
        String mac = mac(context, opts.take("mac"));
        String addr = opts.take("addr");
        int slot = addr == null ? -1 : MachineOptions.pciSlot(addr, "-device " + driver);
        opts.take("id");
        boolean virtio = driver.startsWith("virtio");
        boolean mq = virtio && opts.takeBoolean("mq", false);
        opts.requireAllTaken(driver);
        if (netdev == null || netdev.isEmpty()) {
            // QEMU would plug in a NIC with no cable; jkvm wants to know where the frames go.
            throw new CliException(context + ": a NIC without netdev= (unconnected) is not supported yet; name a -netdev with netdev=ID, or use -nic");
        }
        return virtio ? new DeviceConfig.VirtioNetPci(netdev, mac, mq, slot) : new DeviceConfig.E1000(netdev, mac, slot);
    }

    /** A mac= as "52:54:00:12:34:56" (lower case), or null when absent. */
    private static String mac(String context, String text) {
        if (text == null) {
            return null;
        }
        if (!text.matches("[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")) {
            throw new CliException(context + ": '" + text + "' is not a MAC address (xx:xx:xx:xx:xx:xx)");
        }
        try {
            return MacAddress.parse(text.toLowerCase(Locale.ROOT)).toString();
        } catch (IllegalArgumentException e) {
            throw new CliException(context + ": " + e.getMessage());
        }
    }

    // ---- NICs: netdev references and default MACs ----

    /**
     * Checks that every NIC names a defined netdev that no other NIC uses, and gives the NICs without a
     * mac= QEMU's defaults in order: 52:54:00:12:34:56, :57... skipping ones given explicitly.
     */
    private List<DeviceConfig> resolveNics(List<DeviceConfig> devices) {
        BitSet used = new BitSet(256);
        for (DeviceConfig d : devices) {
            String mac = switch (d) {
                case DeviceConfig.E1000 e -> e.mac();
                case DeviceConfig.VirtioNetPci v -> v.mac();
                default -> null;
            };
            if (mac != null) {
                long v = MacAddress.parse(mac).value();
                if ((v & ~0xffL) == (MacAddress.QEMU_FIRST.value() & ~0xffL)) {
                    used.set((int) ((v & 0xff) - 0x56) & 0xff);
                }
            }
        }
        Map<String, String> nicOfNetdev = new HashMap<>();
        List<DeviceConfig> out = new ArrayList<>();
        for (DeviceConfig d : devices) {
            String model = switch (d) {
                case DeviceConfig.E1000 e -> "e1000";
                case DeviceConfig.VirtioNetPci v -> "virtio-net-pci";
                default -> null;
            };
            if (model == null) {
                out.add(d);
                continue;
            }
            String netdev = d instanceof DeviceConfig.E1000 e ? e.netdev() : ((DeviceConfig.VirtioNetPci) d).netdev();
            if (!netdevs.containsKey(netdev)) {
                throw new CliException("-device " + model + ",netdev=" + netdev + ": no -netdev with id '" + netdev + "'");
            }
            if (nicOfNetdev.putIfAbsent(netdev, model) != null) {
                throw new CliException("-device " + model + ",netdev=" + netdev + ": netdev '" + netdev + "' is already used by another NIC ("
                        + nicOfNetdev.get(netdev) + ")");
            }
            out.add(switch (d) {
                case DeviceConfig.E1000 e when e.mac() == null -> new DeviceConfig.E1000(e.netdev(), nextMac(used), e.slot());
                case DeviceConfig.VirtioNetPci v when v.mac() == null -> new DeviceConfig.VirtioNetPci(v.netdev(), nextMac(used), v.mq(), v.slot());
                default -> d;
            });
        }
        for (NetdevConfig n : netdevs.values()) {
            if (!nicOfNetdev.containsKey(n.id())) {
                // QEMU warns ("has no peer") and runs it anyway; jkvm opens a netdev only for its NIC, so
                // one without a NIC would silently do nothing.
                throw new CliException("-netdev " + n.id() + ": no NIC uses it (add -device e1000,netdev=" + n.id()
                        + " or -device virtio-net-pci,netdev=" + n.id() + ")");
            }
        }
        return out;
    }

    private static String nextMac(BitSet used) {
        int index = used.nextClearBit(0);
        if (index > 255) {
            throw new CliException("more than 256 NICs without a mac=");
        }
        used.set(index);
        return new MacAddress((MacAddress.QEMU_FIRST.value() & ~0xffL) | ((0x56 + index) & 0xff)).toString();
    }

    /**
     * Properties split as QemuOpts does, except that hostfwd= may repeat (QEMU's -netdev user takes
     * a list of them): those are pulled out, in order, and the rest goes to QemuOpts.
     */
    private record Props(QemuOpts opts, List<String> hostForwards) {
        static Props parse(String option, String text, String impliedKey) {
            List<String> items = new ArrayList<>();
            StringBuilder current = new StringBuilder();
            for (int i = 0; i <= text.length(); i++) {
                if (i < text.length() && text.charAt(i) == ',' && i + 1 < text.length() && text.charAt(i + 1) == ',') {
                    current.append(',');
                    i++;
                } else if (i == text.length() || text.charAt(i) == ',') {
                    items.add(current.toString());
                    current.setLength(0);
                } else {
                    current.append(text.charAt(i));
                }
            }
            List<String> forwards = new ArrayList<>();
            StringBuilder rest = new StringBuilder();
            for (int i = 0; i < items.size(); i++) {
                String item = items.get(i);
                if (item.startsWith("hostfwd=")) {
                    forwards.add(item.substring("hostfwd=".length()));
                    continue;
                }
                // A leading comma when the first item was taken out keeps a bare word after it from
                // becoming the implied key's value.
                if (i > 0) {
                    rest.append(',');
                }
                rest.append(item.replace(",", ",,"));
            }
            return new Props(QemuOpts.parse(option, rest.toString(), impliedKey), forwards);
        }
    }
}
