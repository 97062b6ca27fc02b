package dev.jkvm.machine;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Locale;

/** Sizes as QEMU writes them: a number with an optional K, M, G or T suffix (powers of 1024). */
public final class Sizes {
    private Sizes() {
    }

    /**
     * Parses "128M", "4G", "512" (no suffix means {@code defaultUnit}); throws
     * IllegalArgumentException with a message naming the text for anything else.
     */
    public static long parse(String text, long defaultUnit) {
        String s = text.trim();
        if (s.isEmpty()) {
            throw new IllegalArgumentException("empty size");
        }
        long unit = defaultUnit;
        char last = Character.toUpperCase(s.charAt(s.length() - 1));
        int shift = switch (last) {
            case 'B' -> 0;
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            default -> -1;
        };
        if (shift >= 0) {
            unit = 1L << shift;
            s = s.substring(0, s.length() - 1);
        }
        int dot = s.indexOf('.');
        if (!digits(s, 0, dot < 0 ? s.length() : dot) || (dot >= 0 && !digits(s, dot + 1, s.length()))) {
            throw new IllegalArgumentException("'" + text + "' is not a size");
        }
        if (dot < 0 && s.length() <= 18) {
            // The common case, without BigDecimal: its classes cost start-up time.
            long n = Long.parseLong(s);
            if (n > Long.MAX_VALUE / unit) {
                throw new IllegalArgumentException("'" + text + "' is too large");
            }
            return n * unit;
        }
        // Exact decimal arithmetic, as qemu_strtosz does it: a double loses whole bytes above 2^53.
        BigDecimal number = new BigDecimal(s);
        if (unit == 1 && number.stripTrailingZeros().scale() > 0) {
            throw new IllegalArgumentException("'" + text + "' is not a whole number of bytes");
        }
        BigDecimal value = number.multiply(BigDecimal.valueOf(unit)).setScale(0, RoundingMode.HALF_UP);
        if (value.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            throw new IllegalArgumentException("'" + text + "' is too large");
        }
        return value.longValueExact();
    }

    /** True if [from, to) is one or more ASCII digits. */
    private static boolean digits(String s, int from, int to) {
        if (from >= to) {
            return false;
        }
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
        }
        return true;
    }

    /** 134217728 -> "128 MiB". */
    public static String format(long bytes) {
        String[] units = {"bytes", "KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? bytes + " bytes" : String.format(Locale.ROOT, v == Math.rint(v) ? "%.0f %s" : "%.1f %s", v, units[u]);
    }
}
