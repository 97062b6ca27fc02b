package dev.jkvm.backends.net.slirp;

import java.util.ArrayList;
import java.util.List;

/**
 * The options of a -netdev user, checked and turned into numbers: the virtual IPv4 network, the
 * addresses of slirp's own host (gateway), DNS server and first DHCP lease, restrict=, and the
 * host forwarding rules. IPv4 addresses are ints in host order (10.0.2.2 is 0x0a000202).
 *
 * <p>Defaults are QEMU's: 10.0.2.0/24, host .2, DNS .3, DHCP from .15; host, dns and dhcpstart
 * follow net= when only net= is given.
 */
public record UserNetOptions(int network, int netmask, int host, int dns, int dhcpStart, boolean restrict,
        List<HostForward> forwards) {

    /** One hostfwd= rule: the host listens on hostAddr:hostPort and forwards to guestAddr:guestPort. */
    public record HostForward(boolean udp, int hostAddr, int hostPort, int guestAddr, int guestPort, String rule) {
        public String protocol() {
            return udp ? "udp" : "tcp";
        }
    }

    public UserNetOptions {
        forwards = List.copyOf(forwards);
    }

    /** 10.0.2.0/24, everything else default, no forwarding. */
    public static UserNetOptions defaults() {
        return parse(null, null, null, null, false, List.of());
    }

    /**
     * Parses the raw option strings of a -netdev user; null or blank means "not given".
     *
     * @throws SlirpException with a one-line message naming the bad option
     */
    public static UserNetOptions parse(String net, String host, String dns, String dhcpStart, boolean restrict,
            List<String> hostForwards) {
        int network = 0x0a000200;
        int mask = 0xffffff00;
        if (given(net)) {
            int slash = net.indexOf('/');
            String addr = slash < 0 ? net : net.substring(0, slash);
            network = ipv4("net", addr);
            mask = slash < 0 ? classfulMask(network) : mask(net, net.substring(slash + 1));
            if (Integer.compareUnsigned(mask, 0xfffffffc) > 0) {
                throw new SlirpException("net=" + net + ": the network is too small (at most /30)");
            }
            if ((network & ~mask) != 0) {
                throw new SlirpException("net=" + net + ": the address has host bits set (did you mean "
                        + format(network & mask) + "/" + Integer.bitCount(mask) + "?)");
            }
        }
        int hostAddr = given(host) ? ipv4("host", host) : network | 2;
        int dnsAddr = given(dns) ? ipv4("dns", dns) : network | 3;
        int dhcp = given(dhcpStart) ? ipv4("dhcpstart", dhcpStart) : network | 15;
        inNetwork("host", hostAddr, network, mask);
        inNetwork("dns", dnsAddr, network, mask);
        inNetwork("dhcpstart", dhcp, network, mask);
        if (dhcp == hostAddr || dhcp == dnsAddr) {
            throw new SlirpException("dhcpstart=" + format(dhcp) + " is the address of slirp's "
                    + (dhcp == hostAddr ? "host" : "DNS server") + "; the guest needs another one");
        }
        List<HostForward> forwards = new ArrayList<>();
        for (String rule : hostForwards == null ? List.<String>of() : hostForwards) {
            forwards.add(hostForward(rule, network, mask, dhcp));
        }
        return new UserNetOptions(network, mask, hostAddr, dnsAddr, dhcp, restrict, forwards);
    }

    /** Parses one more hostfwd= rule against this network (for rules added while running). */
    public HostForward parseHostForward(String rule) {
        return hostForward(rule, network, netmask, dhcpStart);
    }

    /**
     * Parses QEMU's hostfwd=[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport. The host address
     * defaults to 0.0.0.0 (every interface), the guest address to the first DHCP lease.
     */
    static HostForward hostForward(String rule, int network, int mask, int dhcpStart) {
        String where = "hostfwd=" + rule + ": ";
        String form = " (the form is [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport)";
        if (rule.indexOf('[') >= 0) {
            throw new SlirpException(where + "IPv6 host forwarding is not supported");
        }
        int dash = rule.indexOf('-');
        if (dash < 0) {
            throw new SlirpException(where + "no '-' between the host and the guest side" + form);
        }
        String[] hostSide = rule.substring(0, dash).split(":", -1);
        String[] guestSide = rule.substring(dash + 1).split(":", -1);
        if (hostSide.length != 3 || guestSide.length != 2) {
            throw new SlirpException(where + "wrong number of ':'" + form);
        }
        boolean udp = switch (hostSide[0]) {
            case "", "tcp" -> false;
            case "udp" -> true;
            default -> throw new SlirpException(where + "protocol '" + hostSide[0] + "' is neither tcp nor udp");
        };
        int hostAddr = hostSide[1].isEmpty() ? 0 : address(where + "host address", hostSide[1]);
        int hostPort = port(where + "host port", hostSide[2], 0);
        int guestAddr = guestSide[0].isEmpty() ? dhcpStart : address(where + "guest address", guestSide[0]);
        int guestPort = port(where + "guest port", guestSide[1], 1);
        if ((guestAddr & mask) != network) {
            throw new SlirpException(where + "guest address " + format(guestAddr) + " is not in the guest network "
                    + format(network) + "/" + Integer.bitCount(mask));
        }
        return new HostForward(udp, hostAddr, hostPort, guestAddr, guestPort, rule);
    }

    private static int port(String what, String text, int min) {
        int p;
        try {
            p = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            p = -1;
        }
        if (p < min || p > 65535) {
            throw new SlirpException(what + " '" + text + "' is not a number " + min + "-65535");
        }
        return p;
    }

    private static int address(String what, String text) {
        int a = parseIpv4(text);
        if (a == -1 && !text.equals("255.255.255.255")) {
            throw new SlirpException(what + " '" + text + "' is not an IPv4 address");
        }
        return a;
    }

    private static int ipv4(String option, String text) {
        int a = parseIpv4(text);
        if (a == -1 && !text.equals("255.255.255.255")) {
            throw new SlirpException(option + "=" + text + ": not an IPv4 address (a.b.c.d)");
        }
        return a;
    }

    /** a.b.c.d in host order, or -1 when it is not one (the caller tells 255.255.255.255 apart). */
    static int parseIpv4(String text) {
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            return -1;
        }
        int v = 0;
        for (String p : parts) {
            if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(Character::isDigit)) {
                return -1;
            }
            int b = Integer.parseInt(p);
            if (b > 255) {
                return -1;
            }
            v = (v << 8) | b;
        }
        return v;
    }

    private static int mask(String net, String text) {
        if (text.chars().allMatch(Character::isDigit) && !text.isEmpty() && text.length() <= 2) {
            int bits = Integer.parseInt(text);
            if (bits < 1 || bits > 32) {
                throw new SlirpException("net=" + net + ": prefix length must be 1-32");
            }
            return (int) (0xffffffffL << (32 - bits));
        }
        int m = parseIpv4(text);
        if ((m == -1 && !text.equals("255.255.255.255")) || m == 0 || Integer.bitCount(m) != Integer.numberOfLeadingZeros(~m)) {
            throw new SlirpException("net=" + net + ": '" + text + "' is neither a prefix length nor a contiguous netmask");
        }
        return m;
    }

    /** QEMU's choice when net= has no mask: by address class, with the private ranges' own sizes. */
    private static int classfulMask(int addr) {
        if ((addr & 0x80000000) == 0) {
            return 0xff000000;
        } else if ((addr & 0xfff00000) == 0xac100000) {
            return 0xfff00000;
        } else if ((addr & 0xc0000000) == 0x80000000) {
            return 0xffff0000;
        } else if ((addr & 0xffff0000) == 0xc0a80000) {
            return 0xffff0000;
        } else if ((addr & 0xe0000000) == 0xc0000000) {
            return 0xffffff00;
        }
        return 0xfffffff0;
    }

    private static void inNetwork(String option, int addr, int network, int mask) {
        if ((addr & mask) != network) {
            throw new SlirpException(option + "=" + format(addr) + " is not in the guest network " + format(network)
                    + "/" + Integer.bitCount(mask));
        }
        if (addr == network || addr == (network | ~mask)) {
            throw new SlirpException(option + "=" + format(addr) + " is the "
                    + (addr == network ? "network" : "broadcast") + " address of " + format(network) + "/" + Integer.bitCount(mask));
        }
    }

    private static boolean given(String s) {
        return s != null && !s.isBlank();
    }

    /** "10.0.2.15". */
    public static String format(int addr) {
        return (addr >>> 24) + "." + ((addr >>> 16) & 0xff) + "." + ((addr >>> 8) & 0xff) + "." + (addr & 0xff);
    }
}
