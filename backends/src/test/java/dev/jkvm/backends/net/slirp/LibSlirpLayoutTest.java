package dev.jkvm.backends.net.slirp;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The binding itself: struct layouts against the C compiler's, the library's version, the missing-library message. */
class LibSlirpLayoutTest {
    @Test
    void aMissingLibraryIsOneLineNamingTheDebianPackage() {
        SlirpUnavailableException e = assertThrows(SlirpUnavailableException.class, () -> new LibSlirp("libslirp-not-there.so.0"));
        assertEquals("-netdev user needs libslirp (Debian package libslirp0): apt-get install libslirp0", e.getMessage());
    }

    @Test
    void theInstalledLibraryIsAtLeast47() {
        String[] v = SlirpBackend.libraryVersion().split("\\.");
        int major = Integer.parseInt(v[0]);
        int minor = Integer.parseInt(v[1]);
        assertTrue(major > 4 || (major == 4 && minor >= 7), SlirpBackend.libraryVersion());
    }

    /** SlirpConfig as jkvm lays it out, against offsetof() from libslirp.h 4.7.0 compiled with gcc on x86-64. */
    @Test
    void slirpConfigVersion4MatchesTheCLayout() {
        Map<String, Long> c = Map.ofEntries(
                Map.entry("version", 0L), Map.entry("restricted", 4L), Map.entry("in_enabled", 8L),
                Map.entry("vnetwork", 12L), Map.entry("vnetmask", 16L), Map.entry("vhost", 20L),
                Map.entry("in6_enabled", 24L), Map.entry("vprefix_addr6", 28L), Map.entry("vprefix_len", 44L),
                Map.entry("vhost6", 48L), Map.entry("vhostname", 64L), Map.entry("tftp_server_name", 72L),
                Map.entry("tftp_path", 80L), Map.entry("bootfile", 88L), Map.entry("vdhcp_start", 96L),
                Map.entry("vnameserver", 100L), Map.entry("vnameserver6", 104L), Map.entry("vdnssearch", 120L),
                Map.entry("vdomainname", 128L), Map.entry("if_mtu", 136L), Map.entry("if_mru", 144L),
                Map.entry("disable_host_loopback", 152L), Map.entry("enable_emu", 153L),
                Map.entry("outbound_addr", 160L), Map.entry("outbound_addr6", 168L),
                Map.entry("disable_dns", 176L), Map.entry("disable_dhcp", 177L));
        c.forEach((field, offset) -> assertEquals(offset, LibSlirp.offset(field), field));
        assertEquals(184, LibSlirp.CONFIG.byteSize());
        assertEquals(88, LibSlirp.CALLBACKS.byteSize());
    }
}
