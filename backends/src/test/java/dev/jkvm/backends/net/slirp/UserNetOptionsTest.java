package dev.jkvm.backends.net.slirp;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UserNetOptionsTest {
    private static int ip(String s) {
        return UserNetOptions.parseIpv4(s);
    }

    @Test
    void defaultsAreQemus() {
        UserNetOptions o = UserNetOptions.defaults();
        assertEquals(ip("10.0.2.0"), o.network());
        assertEquals(ip("255.255.255.0"), o.netmask());
        assertEquals(ip("10.0.2.2"), o.host());
        assertEquals(ip("10.0.2.3"), o.dns());
        assertEquals(ip("10.0.2.15"), o.dhcpStart());
        assertFalse(o.restrict());
        assertTrue(o.forwards().isEmpty());
    }

    @Test
    void addressesFollowNetWhenOnlyNetIsGiven() {
        UserNetOptions o = UserNetOptions.parse("192.168.76.0/255.255.255.0", "", null, " ", true, null);
        assertEquals(ip("192.168.76.2"), o.host());
        assertEquals(ip("192.168.76.3"), o.dns());
        assertEquals(ip("192.168.76.15"), o.dhcpStart());
        assertTrue(o.restrict());
    }

    @Test
    void netWithoutMaskUsesTheClassfulOne() {
        assertEquals(ip("255.255.0.0"), UserNetOptions.parse("192.168.0.0", null, null, null, false, List.of()).netmask());
        assertEquals(ip("255.0.0.0"), UserNetOptions.parse("10.0.0.0", null, null, null, false, List.of()).netmask());
    }

    @Test
    void hostForwardForms() {
        UserNetOptions o = UserNetOptions.parse(null, null, null, null, false,
                List.of("tcp::5555-:22", "udp:127.0.0.1:5555-10.0.2.16:7", "::80-:8080"));
        UserNetOptions.HostForward a = o.forwards().get(0);
        assertFalse(a.udp());
        assertEquals(0, a.hostAddr());
        assertEquals(5555, a.hostPort());
        assertEquals(ip("10.0.2.15"), a.guestAddr());
        assertEquals(22, a.guestPort());
        UserNetOptions.HostForward b = o.forwards().get(1);
        assertTrue(b.udp());
        assertEquals(ip("127.0.0.1"), b.hostAddr());
        assertEquals(ip("10.0.2.16"), b.guestAddr());
        assertEquals(7, b.guestPort());
        assertFalse(o.forwards().get(2).udp(), "an empty protocol is tcp, as in QEMU");
        assertEquals(ip("10.0.2.100"),
                UserNetOptions.parse(null, null, null, "10.0.2.100", false, List.of("tcp::1-:2")).forwards().get(0).guestAddr(),
                "the guest address defaults to dhcpstart");
    }

    @ParameterizedTest
    @CsvSource(delimiterString = "=>", value = {
        "sctp::1-:2 => hostfwd=sctp::1-:2: protocol 'sctp' is neither tcp nor udp",
        "tcp::5555:22 => hostfwd=tcp::5555:22: no '-' between the host and the guest side (the form is [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport)",
        "tcp:5555-:22 => hostfwd=tcp:5555-:22: wrong number of ':' (the form is [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport)",
        "tcp::x-:22 => hostfwd=tcp::x-:22: host port 'x' is not a number 0-65535",
        "tcp::70000-:22 => hostfwd=tcp::70000-:22: host port '70000' is not a number 0-65535",
        "tcp::5555-:0 => hostfwd=tcp::5555-:0: guest port '0' is not a number 1-65535",
        "tcp::5555-: => hostfwd=tcp::5555-:: guest port '' is not a number 1-65535",
        "tcp:1.2.3:1-:2 => hostfwd=tcp:1.2.3:1-:2: host address '1.2.3' is not an IPv4 address",
        "tcp::1-10.0.3.1:2 => hostfwd=tcp::1-10.0.3.1:2: guest address 10.0.3.1 is not in the guest network 10.0.2.0/24",
        "tcp:[::1]:1-:2 => hostfwd=tcp:[::1]:1-:2: IPv6 host forwarding is not supported",
    })
    void malformedRulesAreOneLine(String rule, String message) {
        SlirpException e = assertThrows(SlirpException.class,
                () -> UserNetOptions.parse(null, null, null, null, false, List.of(rule.strip())));
        assertEquals(message.strip(), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "10.0.2.0/33 | ''        | net=10.0.2.0/33: prefix length must be 1-32",
        "10.0.2.0/31 | ''        | net=10.0.2.0/31: the network is too small (at most /30)",
        "10.0.2.5/24 | ''        | net=10.0.2.5/24: the address has host bits set (did you mean 10.0.2.0/24?)",
        "10.0.2.0/255.0.255.0 | '' | net=10.0.2.0/255.0.255.0: '255.0.255.0' is neither a prefix length nor a contiguous netmask",
        "10.0.x.0/24 | ''        | net=10.0.x.0: not an IPv4 address (a.b.c.d)",
        "''          | 10.0.3.2  | host=10.0.3.2 is not in the guest network 10.0.2.0/24",
        "''          | 10.0.2.255| host=10.0.2.255 is the broadcast address of 10.0.2.0/24",
    })
    void badNetworkOptions(String net, String host, String message) {
        SlirpException e = assertThrows(SlirpException.class,
                () -> UserNetOptions.parse(net, host, null, null, false, List.of()));
        assertEquals(message.strip(), e.getMessage());
    }

    @Test
    void dhcpStartMustNotBeSlirpsOwnAddress() {
        SlirpException e = assertThrows(SlirpException.class,
                () -> UserNetOptions.parse(null, null, null, "10.0.2.2", false, List.of()));
        assertEquals("dhcpstart=10.0.2.2 is the address of slirp's host; the guest needs another one", e.getMessage());
    }
}
