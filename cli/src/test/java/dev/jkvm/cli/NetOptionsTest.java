package dev.jkvm.cli;

import dev.jkvm.machine.DeviceConfig;
import dev.jkvm.machine.MachineConfig;
import dev.jkvm.machine.NetdevConfig;
import dev.jkvm.machine.SerialConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** -netdev, -nic, -net and the NIC devices, mapped to netdevs and devices as QEMU means them; nothing is opened. */
class NetOptionsTest {
    private static MachineConfig parse(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("-kernel", "k.elf"));
        return MachineOptions.toConfig(JkvmOptions.parse(all.toArray(String[]::new)));
    }

    /** The one line a bad command line gets, through the real entry point (nothing boots: parsing fails first). */
    private static String error(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("-kernel", "k.elf"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(all.toArray(String[]::new), new PrintStream(out, true), new PrintStream(err, true));
        String e = err.toString(StandardCharsets.UTF_8);
        assertEquals(1, status, e);
        assertEquals(1, e.lines().count(), "one line: " + e);
        assertTrue(e.startsWith("jkvm: "), e);
        return e.strip().substring("jkvm: ".length());
    }

    /** The netdev of "-netdev TEXT" with an e1000 on it (a netdev needs its NIC). */
    private static NetdevConfig netdev(String text) {
        java.util.regex.Matcher id = java.util.regex.Pattern.compile("(?:^|,)id=([^,]+)").matcher(text);
        assertTrue(id.find(), text);
        return onlyNetdev(parse("-netdev", text, "-device", "e1000,netdev=" + id.group(1)));
    }

    private static NetdevConfig onlyNetdev(MachineConfig c) {
        assertEquals(1, c.netdevs().size(), c.netdevs().toString());
        return c.netdevs().get(0);
    }

    @Test
    void tapTakesQemusPropertiesAndDefaults() {
        assertEquals(new NetdevConfig.Tap("n0", null, null, null, true, 1, -1), netdev("tap,id=n0"),
                "kernel-chosen name, QEMU's default scripts, vnet_hdr when the kernel has it, one queue");
        assertEquals(new NetdevConfig.Tap("t", "tap5", "no", "/etc/down", false, 4, -1),
                netdev("tap,id=t,ifname=tap5,script=no,downscript=/etc/down,vnet_hdr=off,queues=4"));
        assertEquals(new NetdevConfig.Tap("t", null, null, null, true, 1, 7), netdev("type=tap,id=t,fd=7"));
        assertEquals(new NetdevConfig.Tap("t", null, null, null, true, 1, -1), netdev("tap,id=t,vhost=off"));
    }

    @Test
    void socketListensOrConnects() {
        assertEquals(new NetdevConfig.Socket("s", ":1234", null), netdev("socket,id=s,listen=:1234"));
        assertEquals(new NetdevConfig.Socket("s", null, "127.0.0.1:1234"), netdev("socket,id=s,connect=127.0.0.1:1234"));
        assertEquals(new NetdevConfig.Socket("s", "[::1]:80", null), netdev("socket,id=s,listen=[::1]:80"));
    }

    @Test
    void userPassesAddressesAndEveryHostfwdThrough() {
        assertEquals(new NetdevConfig.User("u", "10.1.0.0/24", "10.1.0.2", "10.1.0.3", "10.1.0.15", true,
                        List.of("tcp::2222-:22", "udp:127.0.0.1:5353-:53")),
                netdev("user,id=u,net=10.1.0.0/24,host=10.1.0.2,dns=10.1.0.3,dhcpstart=10.1.0.15,"
                        + "restrict=on,hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:5353-:53"));
        assertEquals(new NetdevConfig.User("u", null, null, null, null, false, List.of()), netdev("user,id=u"),
                "null: the user backend's defaults");
        // The forward's syntax is the user backend's to check; the CLI keeps each string as given.
        assertEquals(List.of("not a rule"), ((NetdevConfig.User) netdev("user,id=u,hostfwd=not a rule")).hostForwards());
    }

    @Test
    void nicDevicesNameTheirNetdev() {
        MachineConfig c = parse("-netdev", "tap,id=n0", "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:AA:BB:CC,mq=on,addr=5",
                "-netdev", "socket,id=n1,listen=:5000", "-device", "e1000,netdev=n1,mac=52:54:00:00:00:01,addr=0x6,id=nic1");
        assertEquals(List.of(new DeviceConfig.VirtioNetPci("n0", "52:54:00:aa:bb:cc", true, 5),
                new DeviceConfig.E1000("n1", "52:54:00:00:00:01", 6)), c.devices());
        assertEquals(List.of("n0", "n1"), c.netdevs().stream().map(NetdevConfig::id).toList());
        // QEMU's aliases; a -netdev may come after the device that names it.
        assertEquals(List.of(new DeviceConfig.VirtioNetPci("n", "52:54:00:12:34:56", false, -1)),
                parse("-device", "virtio-net,netdev=n", "-netdev", "user,id=n").devices());
        assertEquals(List.of(new DeviceConfig.E1000("n", "52:54:00:12:34:56", -1)),
                parse("-device", "e1000-82540em,netdev=n", "-netdev", "user,id=n").devices());
    }

    @Test
    void nicMakesTheNetdevAndItsNicTogether() {
        MachineConfig c = parse("-nic", "user,model=virtio-net-pci,hostfwd=tcp::2222-:22,hostfwd=tcp::8080-:80");
        assertEquals(List.of(new NetdevConfig.User("__org.qemu.nic0", null, null, null, null, false, List.of("tcp::2222-:22", "tcp::8080-:80"))),
                c.netdevs());
        assertEquals(List.of(new DeviceConfig.VirtioNetPci("__org.qemu.nic0", "52:54:00:12:34:56", false, -1)), c.devices());

        c = parse("-nic", "tap,ifname=tap9,script=no,downscript=no,mac=52:54:00:12:34:99");
        assertEquals(new NetdevConfig.Tap("__org.qemu.nic0", "tap9", "no", "no", true, 1, -1), onlyNetdev(c));
        assertEquals(List.of(new DeviceConfig.E1000("__org.qemu.nic0", "52:54:00:12:34:99", -1)), c.devices(), "QEMU's pc model is e1000");

        assertEquals(List.of(new DeviceConfig.E1000("mine", "52:54:00:12:34:56", -1)), parse("-nic", "socket,id=mine,connect=h:1").devices());
        assertEquals(new NetdevConfig.User("__org.qemu.nic0", null, null, null, null, false, List.of()), onlyNetdev(parse("-nic", "model=e1000")),
                "the type defaults to user");
        MachineConfig none = parse("-nic", "none");
        assertTrue(none.netdevs().isEmpty() && none.devices().isEmpty());
    }

    @Test
    void withoutNetworkOptionsTheMachineGetsQemusDefaultE1000OnUserNetworking() {
        MachineConfig c = parse("-device", "isa-debug-exit");
        assertEquals(List.of(new NetdevConfig.QemuDefault("user.0")), c.netdevs());
        assertEquals(List.of(new DeviceConfig.E1000("user.0", "52:54:00:12:34:56", -1), new DeviceConfig.IsaDebugExit(0x501, 2)),
                c.devices(), "the board's NIC first, with QEMU's first MAC");
        for (String[] off : List.of(new String[] {"-nic", "none"}, new String[] {"-net", "none"}, new String[] {"-nodefaults"},
                new String[] {"-netdev", "socket,id=s,listen=:1", "-device", "virtio-net-pci,netdev=s"})) {
            MachineConfig without = parse(off);
            assertTrue(without.netdevs().stream().noneMatch(n -> n instanceof NetdevConfig.QemuDefault), String.join(" ", off));
            assertTrue(without.devices().stream().noneMatch(d -> d instanceof DeviceConfig.E1000), String.join(" ", off));
        }
    }

    @Test
    void nodefaultsAlsoDropsTheDefaultSerialPort() {
        assertEquals(new SerialConfig.None(), parse("-nodefaults").serial());
        assertEquals(new SerialConfig.Stdio(false), parse("-nodefaults", "-serial", "stdio").serial());
    }

    @Test
    void defaultMacsGoInQemusOrderSkippingExplicitOnes() {
        MachineConfig c = parse(
                "-device", "e1000,netdev=a", "-netdev", "socket,id=a,listen=:1",
                "-device", "virtio-net-pci,netdev=b,mac=52:54:00:12:34:57", "-netdev", "tap,id=b",
                "-nic", "user",
                "-device", "isa-debug-exit",
                "-device", "e1000,netdev=c", "-netdev", "user,id=c",
                "-nic", "tap,model=virtio");
        assertEquals(List.of(
                new DeviceConfig.E1000("__org.qemu.nic0", "52:54:00:12:34:56", -1),
                new DeviceConfig.VirtioNetPci("__org.qemu.nic1", "52:54:00:12:34:58", false, -1),
                new DeviceConfig.E1000("a", "52:54:00:12:34:59", -1),
                new DeviceConfig.VirtioNetPci("b", "52:54:00:12:34:57", false, -1),
                new DeviceConfig.IsaDebugExit(0x501, 2),
                new DeviceConfig.E1000("c", "52:54:00:12:34:5a", -1)), c.devices(),
                "-nic NICs first, then -device in order; :57 is taken by mac=");
    }

    @Test
    void legacyNetJoinsOneNicToOneBackend() {
        MachineConfig c = parse("-net", "nic,model=virtio,macaddr=52:54:00:01:02:03", "-net", "user,hostfwd=tcp::2222-:22");
        assertEquals(List.of(new NetdevConfig.User("__org.qemu.net0", null, null, null, null, false, List.of("tcp::2222-:22"))), c.netdevs());
        assertEquals(List.of(new DeviceConfig.VirtioNetPci("__org.qemu.net0", "52:54:00:01:02:03", false, -1)), c.devices());

        c = parse("-net", "nic,netdev=n0,addr=4", "-netdev", "tap,id=n0");
        assertEquals(List.of(new DeviceConfig.E1000("n0", "52:54:00:12:34:56", 4)), c.devices());
        assertTrue(parse("-net", "none").devices().isEmpty());
    }

    @Test
    void duplicatePropertiesOtherThanHostfwdAreStillErrors() {
        CliException e = assertThrows(CliException.class, () -> parse("-netdev", "user,id=u,net=10.0.0.0/8,net=10.1.0.0/16"));
        assertEquals("-netdev: property 'net' given twice", e.getMessage());
        // ",," is a literal comma, as everywhere in QEMU's options.
        assertEquals(List.of("tcp::1-:2,x"), ((NetdevConfig.User) netdev("user,id=u,hostfwd=tcp::1-:2,,x")).hostForwards());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
            unknown netdev kind         | -netdev | foo,id=x                          | -netdev foo,id=x: 'foo' is not a network backend type (user, tap or socket)
            netdev kind not built yet   | -netdev | bridge,id=x                       | -netdev bridge,id=x: netdev type 'bridge' is not supported yet (user, tap and socket are)
            netdev without a type       | -netdev | id=x                              | -netdev id=x: no backend type (user, tap or socket)
            netdev without an id        | -netdev | user                              | -netdev user: id= is needed (a NIC names its netdev by it)
            netdev id not an identifier | -netdev | user,id=1st                       | -netdev user,id=1st: id=1st is not an identifier (a letter, then letters, digits, '-', '.', '_')
            unknown user property       | -netdev | user,id=u,smb=/srv                | -netdev user: unknown or unsupported property 'smb'
            hostfwd on a tap            | -netdev | tap,id=t,hostfwd=tcp::1-:2        | -netdev tap,id=t,hostfwd=tcp::1-:2: hostfwd= belongs to user networking, not tap
            tap queues out of range     | -netdev | tap,id=t,queues=0                 | -netdev tap,id=t,queues=0: queues=0 must be from 1 to 256
            tap fd with ifname          | -netdev | tap,id=t,fd=3,ifname=x            | -netdev tap,id=t,fd=3,ifname=x: ifname=, script=, downscript=, vnet_hdr= and queues= are invalid with fd=
            tap fd not a number         | -netdev | tap,id=t,fd=stdin                 | -netdev tap,id=t,fd=stdin: fd=stdin is not a file descriptor number
            tap ifname too long         | -netdev | tap,id=t,ifname=abcdefghijklmnop  | -netdev tap,id=t,ifname=abcdefghijklmnop: ifname=abcdefghijklmnop is not an interface name (1 to 15 characters)
            tap vhost                   | -netdev | tap,id=t,vhost=on                 | -netdev tap,id=t,vhost=on: vhost=on needs vhost-net, which jkvm does not use (its virtio-net runs in user space)
            socket without an address   | -netdev | socket,id=s                       | -netdev socket,id=s: exactly one of listen= and connect= is needed
            socket with both addresses  | -netdev | socket,id=s,listen=:1,connect=h:2 | -netdev socket,id=s,listen=:1,connect=h:2: exactly one of listen= and connect= is needed
            socket multicast            | -netdev | socket,id=s,mcast=230.0.0.1:1234  | -netdev socket,id=s,mcast=230.0.0.1:1234: mcast= is not supported yet (listen= and connect= are)
            socket bad port             | -netdev | socket,id=s,connect=host:http     | -netdev socket,id=s,connect=host:http: connect=host:http is not HOST:PORT
            NIC without netdev          | -device | e1000                             | -device e1000: a NIC without netdev= (unconnected) is not supported yet; name a -netdev with netdev=ID, or use -nic
            netdev without a NIC        | -netdev | user,id=lonely                    | -netdev lonely: no NIC uses it (add -device e1000,netdev=lonely or -device virtio-net-pci,netdev=lonely)
            NIC with undefined netdev   | -device | virtio-net-pci,netdev=nope        | -device virtio-net-pci,netdev=nope: no -netdev with id 'nope'
            bad mac                     | -device | e1000,netdev=n,mac=52:54:00:zz:00:01 | -device e1000,netdev=n,mac=52:54:00:zz:00:01: '52:54:00:zz:00:01' is not a MAC address (xx:xx:xx:xx:xx:xx)
            multicast mac               | -device | e1000,netdev=n,mac=01:00:5e:00:00:01 | -device e1000,netdev=n,mac=01:00:5e:00:00:01: '01:00:5e:00:00:01' is a multicast address; a NIC needs a unicast one
            e1000 has no mq             | -device | e1000,netdev=n,mq=on              | -device e1000: unknown or unsupported property 'mq'
            nic model not in jkvm       | -nic    | user,model=rtl8139                | -nic user,model=rtl8139: NIC model 'rtl8139' is not supported (jkvm has e1000, virtio-net-pci)
            nic model unknown           | -nic    | user,model=frob                   | -nic user,model=frob: NIC model 'frob' is unknown (jkvm has e1000, virtio-net-pci)
            nic model help              | -nic    | user,model=help                   | -nic user,model=help: NIC models jkvm has: e1000, virtio-net-pci
            nic with a bad mac          | -nic    | user,mac=1:2:3                    | -nic user,mac=1:2:3: '1:2:3' is not a MAC address (xx:xx:xx:xx:xx:xx)
            net NIC without a backend   | -net    | nic                               | -net: 1 NIC(s) and 0 backend(s) on hub 0, but jkvm has no hub: give one -net nic and one -net backend, or use -netdev with -device (or -nic)
            """)
    void badNetworkOptionsGetOneClearLine(String name, String option, String value, String message) {
        List<String> args = new ArrayList<>(List.of(option, value));
        if (option.equals("-device") && value.contains("netdev=n,")) {
            args.addAll(List.of("-netdev", "user,id=n"));
        }
        assertEquals(message, error(args.toArray(String[]::new)));
    }

    @Test
    void aNetdevUsedByTwoNicsOrDefinedTwiceIsAnError() {
        assertEquals("-device e1000,netdev=n: netdev 'n' is already used by another NIC (virtio-net-pci)",
                error("-netdev", "user,id=n", "-device", "virtio-net-pci,netdev=n", "-device", "e1000,netdev=n"));
        assertEquals("-netdev id=n: duplicate ID 'n' for netdev", error("-netdev", "user,id=n", "-netdev", "tap,id=n"));
        assertEquals("-netdev id=x: duplicate ID 'x' for netdev",
                error("-nic", "user", "-netdev", "user,id=x", "-nic", "tap,id=x"), "an id= on -nic names its netdev");
    }

    @Test
    void networkOptionsAreNoLongerPlanned() {
        // The options parse; what follows is the model's or the backend's business, not "not supported yet".
        assertEquals("-net: 2 NIC(s) and 1 backend(s) on hub 0, but jkvm has no hub: give one -net nic and one -net backend, "
                + "or use -netdev with -device (or -nic)", error("-net", "nic", "-net", "nic", "-net", "user"));
    }
}
