package dev.jkvm.machine;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sizes as QEMU's qemu_strtosz reads them: binary suffixes, a default unit, exact arithmetic. */
class SizesTest {
    private static final long K = 1024;
    private static final long M = K * K;
    private static final long G = M * K;
    private static final long T = G * K;

    @ParameterizedTest(name = "{0} (default unit {1}) = {2}")
    @CsvSource({
            "128M,        1,       134217728",
            "4G,          1,       4294967296",
            "1T,          1,       1099511627776",
            "2K,          1,       2048",
            "100B,        1,       100",
            "512,         1,       512",
            "512,         1048576, 536870912",        // no suffix: the default unit (MiB for -m)
            "64m,         1,       67108864",          // suffixes are case-insensitive
            "8k,          1,       8192",
            "3g,          1,       3221225472",
            "1.5G,        1,       1610612736",
            "0.5K,        1,       512",
            "1.5,         1048576, 1572864",
            "0,           1048576, 0",
            "0M,          1,       0",
            "007M,        1,       7340032",
            "8388607T,    1,       9223370937343148032", // the largest whole number of TiB below 2^63
            "9223372036854775807, 1, 9223372036854775807", // Long.MAX_VALUE itself fits
    })
    void parses(String text, long unit, long expected) {
        assertEquals(expected, Sizes.parse(text, unit));
    }

    @Test
    void surroundingWhitespaceIsIgnored() {
        assertEquals(64 * M, Sizes.parse(" 64M ", 1));
        assertEquals(64 * M, Sizes.parse("\t64\n", M));
    }

    @Test
    void largeByteCountsAreExact() {
        // Above 2^53 a double cannot hold every integer; a size must not come back off by one.
        assertEquals(9007199254740993L, Sizes.parse("9007199254740993", 1));
        assertEquals(4611686018427387905L, Sizes.parse("4611686018427387905", 1));
        assertEquals(9223372036854775806L, Sizes.parse("9223372036854775806B", 1));
        assertEquals(8 * 1024 * 1024 * T - T + 1, Sizes.parse(Long.toString(8 * 1024 * 1024 * T - T + 1), 1));
    }

    @Test
    void fractionsAreRoundedToTheNearestByteAsQemuDoes() {
        // 1.0005 KiB = 1024.512 bytes -> 1025 (qemu_strtosz rounds 0.5 up); 1.0004 KiB = 1024.4096 -> 1024.
        assertEquals(1025, Sizes.parse("1.0005K", 1));
        assertEquals(1024, Sizes.parse("1.0004K", 1));
        assertEquals(1, Sizes.parse("0.0009765625K", 1));
        assertEquals(G + G / 4, Sizes.parse("1.25G", 1));
    }

    @ParameterizedTest
    @ValueSource(strings = {"1.5", "1.5B", "0.5", "100.1b"})
    void aFractionOfAByteIsNotASize(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Sizes.parse(text, 1));
        assertTrue(e.getMessage().contains(text), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "M", "B", "-1", "-1M", "+1M", "1X", "12MB", "1MiB", "1e3", "1E3M", "0x10", "1.2.3",
            "abc", ".5M", "1.M", "1..5", "1 M", "1,5M", "١٢M", "NaN", "Infinity", "1P", "1E"})
    void rejectsWhatIsNotASize(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Sizes.parse(text, M));
        assertTrue(text.isBlank() || e.getMessage().contains(text.trim()), "message does not name the text: " + e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"8388608T", "9223372036854775808", "18446744073709551616", "99999999999999999999999999999M",
            "8796093022208M", "9007199254740992K"})
    void tooLargeIsRefusedNotWrapped(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Sizes.parse(text, 1));
        assertTrue(e.getMessage().contains(text), e.getMessage());
    }

    @Test
    void tooLargeWithTheDefaultUnit() {
        assertThrows(IllegalArgumentException.class, () -> Sizes.parse("8796093022208", M));
        assertEquals(8796093022207L * M, Sizes.parse("8796093022207", M));
    }

    @Test
    void aVeryLongNumberIsRefusedQuickly() {
        String digits = "9".repeat(100_000);
        assertThrows(IllegalArgumentException.class, () -> Sizes.parse(digits, 1));
        assertThrows(IllegalArgumentException.class, () -> Sizes.parse("1." + digits + "X", 1));
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
            "0,                 0 bytes",
            "1023,              1023 bytes",
            "1024,              1 KiB",
            "1536,              1.5 KiB",
            "134217728,         128 MiB",
            "3221225472,        3 GiB",
            "1610612736,        1.5 GiB",
            "1099511627776,     1 TiB",
            "1125899906842624,  1024 TiB",
            "2684354560,        2.5 GiB",
    })
    void formats(long bytes, String expected) {
        assertEquals(expected, Sizes.format(bytes));
    }

    @Test
    void formatIsReadBackByParse() {
        for (long v : new long[] {K, 4 * K, 640 * K, M, 16 * M, 64 * M, 1536 * M, 3 * G, 4 * G, 8 * G, 200 * G, T, 3 * T}) {
            String f = Sizes.format(v);
            String qemu = f.replace(" ", "").replace("iB", "");
            assertEquals(v, Sizes.parse(qemu, 1), f);
        }
    }
}
