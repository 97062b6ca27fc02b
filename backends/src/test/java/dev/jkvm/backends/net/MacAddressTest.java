package dev.jkvm.backends.net;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MacAddressTest {
    @Test
    void parsesAndPrintsRoundTrip() {
        MacAddress mac = MacAddress.parse("52:54:00:AB:cd:0f");
        assertEquals(0x525400abcd0fL, mac.value());
        assertEquals("52:54:00:ab:cd:0f", mac.toString());
        assertArrayEquals(new byte[] {0x52, 0x54, 0x00, (byte) 0xab, (byte) 0xcd, 0x0f}, mac.bytes());
    }

    @Test
    void qemuDefaultsCountUpFromTheFirst() {
        assertEquals("52:54:00:12:34:56", MacAddress.qemuDefault(0).toString());
        assertEquals("52:54:00:12:34:58", MacAddress.qemuDefault(2).toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"52:54:00:12:34", "52:54:00:12:34:5", "52:54:00:12:34:zz", "52:54:00:12:34:+5",
            "52-54-00-12-34-56", "", "52:54:00:12:34:56:78"})
    void rejectsMalformedTextWithOneLineNamingIt(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MacAddress.parse(text));
        assertEquals("'" + text + "' is not a MAC address (xx:xx:xx:xx:xx:xx)", e.getMessage());
    }

    @Test
    void rejectsMulticast() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MacAddress.parse("01:00:5e:00:00:01"));
        assertEquals("'01:00:5e:00:00:01' is a multicast address; a NIC needs a unicast one", e.getMessage());
    }
}
