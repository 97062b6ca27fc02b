package dev.jkvm.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * One bit per 4 KiB guest page, set when the page was written since the last harvest. Devices mark
 * pages from their own threads while a migration thread reads, so marking is an atomic OR.
 * The word layout is KVM's (KVM_GET_DIRTY_LOG): bit {@code i % 64} of word {@code i / 64}.
 */
public final class DirtyPageBitmap {
    public static final int PAGE_SHIFT = 12;
    public static final long PAGE_SIZE = 1L << PAGE_SHIFT;
    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final long pages;
    private final long[] words;

    /** A bitmap that covers {@code bytes} of memory, rounded up to whole pages. */
    public DirtyPageBitmap(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative size");
        }
        this.pages = (bytes + PAGE_SIZE - 1) >>> PAGE_SHIFT;
        long wordCount = (pages + 63) >>> 6;
        if (wordCount > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("bitmap too large");
        }
        this.words = new long[(int) wordCount];
    }

    public long pages() {
        return pages;
    }

    /** Bytes KVM expects for a dirty-log buffer of this many pages (whole 64-bit words). */
    public long kvmBufferBytes() {
        return (long) words.length * 8;
    }

    public void markPage(long page) {
        checkPage(page);
        WORDS.getAndBitwiseOr(words, (int) (page >>> 6), 1L << (page & 63));
    }

    /** Marks every page that [offset, offset+length) touches. */
    public void markRange(long offset, long length) {
        if (length <= 0) {
            return;
        }
        long first = offset >>> PAGE_SHIFT;
        long last = (offset + length - 1) >>> PAGE_SHIFT;
        checkPage(first);
        checkPage(last);
        for (long p = first; p <= last; p++) {
            WORDS.getAndBitwiseOr(words, (int) (p >>> 6), 1L << (p & 63));
        }
    }

    public boolean isDirty(long page) {
        checkPage(page);
        return ((long) WORDS.getVolatile(words, (int) (page >>> 6)) & (1L << (page & 63))) != 0;
    }

    /** The first dirty page at or after {@code from}, or -1. */
    public long nextDirty(long from) {
        if (from < 0 || from >= pages) {
            return -1;
        }
        int w = (int) (from >>> 6);
        long word = (long) WORDS.getVolatile(words, w) & (-1L << (from & 63));
        while (true) {
            if (word != 0) {
                long page = ((long) w << 6) + Long.numberOfTrailingZeros(word);
                return page < pages ? page : -1;
            }
            if (++w >= words.length) {
                return -1;
            }
            word = (long) WORDS.getVolatile(words, w);
        }
    }

    public long count() {
        long n = 0;
        for (int i = 0; i < words.length; i++) {
            n += Long.bitCount((long) WORDS.getVolatile(words, i));
        }
        return n;
    }

    public void clear() {
        for (int i = 0; i < words.length; i++) {
            WORDS.setVolatile(words, i, 0L);
        }
    }

    /** ORs in a KVM dirty log (little-endian 64-bit words), for example one harvested by KVM_GET_DIRTY_LOG. */
    public void orFrom(MemorySegment kvmLog) {
        long n = Math.min(words.length, kvmLog.byteSize() / 8);
        for (int i = 0; i < n; i++) {
            long bits = kvmLog.get(LE_LONG, i * 8L);
            if (bits != 0) {
                WORDS.getAndBitwiseOr(words, i, bits);
            }
        }
    }

    /** Atomically takes and clears every word: what a migration pass sends next. */
    public DirtyPageBitmap harvest() {
        DirtyPageBitmap taken = new DirtyPageBitmap(pages << PAGE_SHIFT);
        for (int i = 0; i < words.length; i++) {
            taken.words[i] = (long) WORDS.getAndSet(words, i, 0L);
        }
        return taken;
    }

    private void checkPage(long page) {
        if (page < 0 || page >= pages) {
            throw new IndexOutOfBoundsException("page " + page + " outside bitmap of " + pages + " pages");
        }
    }
}
