package dev.jkvm.os;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LibcTest {
    @Test
    void failedCallNamesTheCallAndTheErrno() {
        NativeException e = assertThrows(NativeException.class, () -> Libc.open("/no/such/file", Libc.O_RDONLY, 0));
        assertEquals(Errno.ENOENT, e.errno());
        assertTrue(e.getMessage().startsWith("open /no/such/file: ENOENT (No such file or directory)"), e.getMessage());
    }

    @Test
    void ioctlOnABadFdReportsEbadf() {
        NativeException e = assertThrows(NativeException.class, () -> Libc.ioctl("KVM_GET_API_VERSION", 999_999, 0xAE00, 0));
        assertEquals(Errno.EBADF, e.errno());
        assertTrue(e.getMessage().startsWith("KVM_GET_API_VERSION: EBADF"), e.getMessage());
    }

    @Test
    void eventfdCountsWrites() {
        int fd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ValueLayout.JAVA_LONG);
            v.set(ValueLayout.JAVA_LONG, 0, 3);
            Libc.write(fd, v, 8);
            Libc.write(fd, v, 8);
            v.set(ValueLayout.JAVA_LONG, 0, 0);
            assertEquals(8, Libc.read(fd, v, 8));
            assertEquals(6, v.get(ValueLayout.JAVA_LONG, 0));
            NativeException again = assertThrows(NativeException.class, () -> Libc.read(fd, v, 8));
            assertEquals(Errno.EAGAIN, again.errno());
        } finally {
            Libc.close(fd);
        }
    }

    @Test
    void sigsetSetsTheRightBits() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment set = Libc.sigset(a, 1, 37, 64, 65);
            assertEquals(1L | (1L << 36) | (1L << 63), set.get(ValueLayout.JAVA_LONG, 0));
            assertEquals(1L, set.get(ValueLayout.JAVA_LONG, 8));
        }
    }

    @Test
    void errnoNamesAreKnown() {
        assertEquals("EINVAL", Errno.name(22));
        assertEquals("errno 4000", Errno.name(4000));
        assertTrue(Errno.describe(13).startsWith("EACCES (Permission denied"));
    }

    @Test
    void gettidDiffersPerThread() throws InterruptedException {
        int main = Libc.gettid();
        int[] other = new int[1];
        Thread t = new Thread(() -> other[0] = Libc.gettid());
        t.start();
        t.join();
        assertTrue(main > 0 && other[0] > 0 && main != other[0]);
        assertTrue(Libc.getpid() > 0);
    }
}
