package dev.jkvm.devices.virtio.block;

import dev.jkvm.backends.block.BlockImage;
import dev.jkvm.backends.block.CacheMode;
import dev.jkvm.backends.block.DriveOptions;
import dev.jkvm.backends.block.IoUring;
import dev.jkvm.backends.block.RawFileImage;
import dev.jkvm.devices.virtio.DriverRing;
import dev.jkvm.devices.virtio.FakeMsi;
import dev.jkvm.devices.virtio.TestGuest;
import dev.jkvm.devices.virtio.VirtioFeatures;
import dev.jkvm.devices.virtio.VirtioPciDriver;
import dev.jkvm.devices.virtio.pci.VirtioPciTransport;
import dev.jkvm.vmm.pci.PciAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Semaphore;

import static dev.jkvm.devices.virtio.DriverRing.r;
import static dev.jkvm.devices.virtio.DriverRing.w;
import static dev.jkvm.devices.virtio.TestGuest.MiB;
import static dev.jkvm.devices.virtio.TestGuest.await;
import static dev.jkvm.devices.virtio.VirtioPciDriver.NEEDS_RESET;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** virtio-blk driven as a guest drives it: through the PCI transport, a split ring in guest RAM, and doorbells. */
class VirtioBlockTest {
    private static final int QUEUE_SIZE = 32;
    private static final int DISK = 1 << 20;
    private static final long SECTORS = DISK / 512;
    private static final int CONFIG_DATA = 0x200;
    private static final int QUEUE_DATA = 0x201;
    private static final int OK = 0;
    private static final int IOERR = 1;
    private static final int UNSUPP = 2;

    private TestGuest guest;
    private FakeImage image;
    private VirtioBlock blk;
    private VirtioPciTransport transport;
    private VirtioPciDriver driver;
    private FakeMsi msi;
    private DriverRing ring;
    private String id;

    private static int ids;

    private void start(boolean readOnly, DriveOptions options, int ioThreads, long extraFeatures) {
        image = new FakeImage(DISK, readOnly);
        start(image, options, ioThreads, extraFeatures);
    }

    private void start(BlockImage backing, DriveOptions options, int ioThreads, long extraFeatures) {
        guest = new TestGuest(16 * MiB);
        id = "t" + (++ids);
        blk = new VirtioBlock(id, backing, options, 1, QUEUE_SIZE, ioThreads);
        msi = new FakeMsi();
        transport = new VirtioPciTransport(blk, guest.mem, msi, new FakeMsi.IoEvents());
        transport.attached(new PciAddress(4, 0), new FakeMsi.Line());
        driver = new VirtioPciDriver(transport);
        driver.enableMsix(true);
        driver.programVector(0, CONFIG_DATA);
        driver.programVector(1, QUEUE_DATA);
        bringUp(extraFeatures);
    }

    private void bringUp(long extraFeatures) {
        assertTrue(driver.negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1) | extraFeatures));
        driver.setCommon(VirtioPciDriver.CONFIG_MSIX_VECTOR, 2, 0);
        ring = new DriverRing(guest.mem, QUEUE_SIZE, 0x10000);
        driver.setUpQueue(0, ring, 1);
        driver.driverOk();
    }

    private void start() {
        start("threads");
    }

    private void start(String aio) {
        if (aio.equals("io_uring")) {
            assumeTrue(IoUring.available(), "io_uring is not available on this kernel");
        }
        start(false, DriveOptions.of(Path.of("unused.img")).withSerial("jkvm-serial-01").withAio(aio), 2, 0);
    }

    @AfterEach
    void tearDown() {
        if (image != null && image.readGate != null) {
            image.readGate.release(1000);
        }
        if (transport != null) {
            transport.close();
        }
        if (guest != null) {
            guest.close();
        }
    }

    // ---- request helpers ----

    /** A request the test submitted: its head, where its status byte is, and the used-ring slot it should get. */
    private record Req(int head, long status) {
    }

    private long header(int type, long sector) {
        long h = guest.alloc(16);
        guest.mem.write32(h, type);
        guest.mem.write32(h + 4, 0);
        guest.mem.write64(h + 8, sector);
        return h;
    }

    private long status() {
        long s = guest.alloc(1, 1);
        guest.mem.write8(s, 0xff);
        return s;
    }

    private Req submit(int type, long sector, DriverRing.Seg... data) {
        long h = header(type, sector);
        long s = status();
        DriverRing.Seg[] segs = new DriverRing.Seg[data.length + 2];
        segs[0] = r(h, 16);
        System.arraycopy(data, 0, segs, 1, data.length);
        segs[segs.length - 1] = w(s, 1);
        int head = ring.add(segs);
        driver.notify(0);
        return new Req(head, s);
    }

    /** Waits for {@code n} used elements in all, and returns the element that holds {@code req}. */
    private int usedLen(Req req, int n) {
        await(n + " used", () -> ring.usedIdx() == n);
        for (int i = 0; i < n; i++) {
            if (ring.usedId(i) == req.head()) {
                return ring.usedLen(i);
            }
        }
        throw new AssertionError("request " + req.head() + " not used");
    }

    private int statusOf(Req req) {
        return guest.mem.read8(req.status());
    }

    private long data(int bytes, int fill) {
        long at = guest.alloc(bytes, 512);
        guest.mem.fill(at, bytes, (byte) fill);
        return at;
    }

    private byte[] guestBytes(long gpa, int n) {
        byte[] b = new byte[n];
        guest.mem.read(gpa, b, 0, n);
        return b;
    }

    private byte[] diskBytes(long offset, int n) {
        return Arrays.copyOfRange(image.disk, (int) offset, (int) offset + n);
    }

    private long segment(long sector, long sectors, int flags) {
        long s = guest.alloc(16);
        guest.mem.write64(s, sector);
        guest.mem.write32(s + 8, (int) sectors);
        guest.mem.write32(s + 12, flags);
        return s;
    }

    // ---- configuration ----

    @Test
    void configurationSpaceAndFeatures() {
        start(false, DriveOptions.of(Path.of("x")).withDiscard(true), 0, 0);
        assertEquals(SECTORS, driver.deviceConfig(0, 8), "capacity in sectors");
        assertEquals(QUEUE_SIZE - 2, driver.deviceConfig(12, 4), "seg_max");
        assertEquals(512, driver.deviceConfig(20, 4), "blk_size");
        assertEquals(1, driver.deviceConfig(32, 1), "writeback cache");
        assertEquals(1, driver.deviceConfig(34, 2), "num_queues");
        assertEquals(1, driver.deviceConfig(40, 4), "max_discard_seg");
        assertEquals(1, driver.deviceConfig(52, 4), "max_write_zeroes_seg");
        assertEquals(1, driver.deviceConfig(56, 1), "write_zeroes_may_unmap with discard=unmap");
        long f = driver.deviceFeatures();
        assertTrue(VirtioFeatures.has(f, VirtioBlock.F_FLUSH));
        assertTrue(VirtioFeatures.has(f, VirtioBlock.F_DISCARD));
        assertTrue(VirtioFeatures.has(f, VirtioBlock.F_WRITE_ZEROES));
        assertFalse(VirtioFeatures.has(f, VirtioBlock.F_RO));
        assertFalse(VirtioFeatures.has(f, VirtioBlock.F_MQ));
    }

    @Test
    void aReadOnlyImageOffersRoAndNoDiscard() {
        start(true, DriveOptions.of(Path.of("x")).withCache(CacheMode.WRITETHROUGH), 0, 0);
        long f = driver.deviceFeatures();
        assertTrue(VirtioFeatures.has(f, VirtioBlock.F_RO));
        assertFalse(VirtioFeatures.has(f, VirtioBlock.F_DISCARD));
        assertFalse(VirtioFeatures.has(f, VirtioBlock.F_WRITE_ZEROES));
        assertFalse(VirtioFeatures.has(f, VirtioBlock.F_FLUSH), "writethrough: no volatile cache");
        assertEquals(0, driver.deviceConfig(32, 1));
        assertEquals(0, driver.deviceConfig(56, 1));
    }

    // ---- IN / OUT ----

    @ParameterizedTest
    @ValueSource(strings = {"threads", "io_uring"})
    void readIntoScatteredBuffers(String aio) {
        start(aio);
        long a = data(512, 0xaa);
        long b = data(1024, 0xbb);
        Req req = submit(BlockRequest.T_IN, 2, w(a, 512), w(b, 1024));
        assertEquals(1536 + 1, usedLen(req, 1), "data + status");
        assertEquals(OK, statusOf(req));
        assertArrayEquals(diskBytes(1024, 512), guestBytes(a, 512));
        assertArrayEquals(diskBytes(1536, 1024), guestBytes(b, 1024));
        FakeImage.Call call = image.calls.get(0);
        assertEquals(1024, call.offset());
        assertEquals(1536, call.length());
        assertEquals(2, call.buffers());
        assertEquals(1, blk.metrics().reads.sum());
        assertEquals(1536, blk.metrics().readBytes.sum());
        // The used index moves before the interrupt is sent.
        await("the queue interrupt", () -> msi.triggers(QUEUE_DATA) >= 1);
        assertEquals(1, msi.triggers(QUEUE_DATA));
    }

    @Test
    void readWithHeaderSplitAndStatusSharingTheDataBuffer() {
        start();
        long h = header(BlockRequest.T_IN, 7);
        long buf = data(513, 0xcc);
        int head = ring.add(r(h, 8), r(h + 8, 8), w(buf, 513));
        driver.notify(0);
        Req req = new Req(head, buf + 512);
        assertEquals(513, usedLen(req, 1));
        assertEquals(OK, statusOf(req));
        assertArrayEquals(diskBytes(7 * 512, 512), guestBytes(buf, 512));
        assertEquals(1, image.calls.get(0).buffers());
    }

    @Test
    void writeFromScatteredBuffersIncludingTheHeaderDescriptor() {
        start();
        // header and the first 512 data bytes in one descriptor
        long hd = guest.alloc(16 + 512);
        guest.mem.write32(hd, BlockRequest.T_OUT);
        guest.mem.write64(hd + 8, 4);
        guest.mem.fill(hd + 16, 512, (byte) 0x11);
        long more = data(1024, 0x22);
        long s = status();
        int head = ring.add(r(hd, 16 + 512), r(more, 1024), w(s, 1));
        driver.notify(0);
        Req req = new Req(head, s);
        assertEquals(1, usedLen(req, 1));
        assertEquals(OK, statusOf(req));
        byte[] want = new byte[1536];
        Arrays.fill(want, 0, 512, (byte) 0x11);
        Arrays.fill(want, 512, 1536, (byte) 0x22);
        assertArrayEquals(want, diskBytes(4 * 512, 1536));
        assertEquals(2048, image.calls.get(0).offset());
        assertEquals(1, blk.metrics().writes.sum());
    }

    @Test
    void outOfRangeAndMisalignedReadsAndWritesAreIoErrors() {
        start();
        long buf = data(1024, 0);
        Object[][] cases = {
            {BlockRequest.T_IN, SECTORS, 512, IOERR},
            {BlockRequest.T_IN, SECTORS - 1, 1024, IOERR},
            {BlockRequest.T_IN, SECTORS - 1, 512, OK},
            {BlockRequest.T_IN, SECTORS, 0, OK},
            {BlockRequest.T_IN, SECTORS + 1, 0, IOERR},
            {BlockRequest.T_IN, 1L << 63, 512, IOERR},
            {BlockRequest.T_IN, -1L, 512, IOERR},
            {BlockRequest.T_IN, (-1L >>> 9) + 1, 512, IOERR},
            {BlockRequest.T_IN, 0L, 511, IOERR},
            {BlockRequest.T_IN, 0L, 513, IOERR},
            {BlockRequest.T_OUT, SECTORS, 512, IOERR},
            {BlockRequest.T_OUT, 1L << 62, 512, IOERR},
            {BlockRequest.T_OUT, 0L, 100, IOERR},
        };
        int n = 0;
        long reads = 0;
        for (Object[] c : cases) {
            int type = (Integer) c[0];
            long sector = (Long) c[1];
            int len = (Integer) c[2];
            Req req = len == 0 ? submit(type, sector) : submit(type, sector, type == BlockRequest.T_IN ? w(buf, len) : r(buf, len));
            int used = usedLen(req, ++n);
            int want = (Integer) c[3];
            String what = "type " + type + " sector " + sector + " bytes " + len;
            assertEquals(want, statusOf(req), what);
            assertEquals(want == OK && type == BlockRequest.T_IN ? len + 1 : 1, used, what);
            if (want == OK) {
                reads++;
            }
        }
        assertEquals(reads, image.calls.size(), "only the good requests reach the image");
        assertEquals(0, driver.status() & NEEDS_RESET);
        assertEquals(cases.length - reads, blk.metrics().rejected.sum());
    }

    @Test
    void writesToAReadOnlyDiskAreIoErrors() {
        start(true, DriveOptions.of(Path.of("x")).withReadOnly(true), 1, 0);
        Req w = submit(BlockRequest.T_OUT, 0, r(data(512, 1), 512));
        assertEquals(IOERR, statusOf(w) == 0xff ? waitStatus(w, 1) : statusOf(w));
        Req d = submit(BlockRequest.T_DISCARD, 0, r(segment(0, 8, 0), 16));
        usedLen(d, 2);
        assertEquals(IOERR, statusOf(d));
        Req z = submit(BlockRequest.T_WRITE_ZEROES, 0, r(segment(0, 8, 0), 16));
        usedLen(z, 3);
        assertEquals(IOERR, statusOf(z));
        Req read = submit(BlockRequest.T_IN, 0, w(data(512, 0), 512));
        usedLen(read, 4);
        assertEquals(OK, statusOf(read));
        assertEquals(List.of("read"), image.calls.stream().map(FakeImage.Call::op).toList());
    }

    private int waitStatus(Req req, int n) {
        usedLen(req, n);
        return statusOf(req);
    }

    @Test
    void hostErrorsBecomeIoErrorsAndAreCounted() {
        start();
        image.failOp = "read";
        image.errno = 5;
        Req r1 = submit(BlockRequest.T_IN, 0, w(data(512, 0), 512));
        assertEquals(1, usedLen(r1, 1), "no data on an error");
        assertEquals(IOERR, statusOf(r1));
        image.failOp = "write";
        image.errno = 28;
        Req r2 = submit(BlockRequest.T_OUT, 0, r(data(512, 0), 512));
        assertEquals(1, usedLen(r2, 2));
        assertEquals(IOERR, statusOf(r2));
        image.failOp = "flush";
        Req r3 = submit(BlockRequest.T_FLUSH, 0);
        usedLen(r3, 3);
        assertEquals(IOERR, statusOf(r3));
        image.failOp = "discard";
        Req r4 = submit(BlockRequest.T_DISCARD, 0, r(segment(0, 1, 0), 16));
        usedLen(r4, 4);
        assertEquals(IOERR, statusOf(r4));
        assertEquals(4, blk.metrics().ioErrors.sum());
        image.failOp = null;
        Req ok = submit(BlockRequest.T_IN, 0, w(data(512, 0), 512));
        assertEquals(513, usedLen(ok, 5));
        assertEquals(OK, statusOf(ok));
        assertEquals(4, blk.metrics().ioErrors.sum());
        assertEquals(0, driver.status() & NEEDS_RESET);
    }

    // ---- FLUSH, GET_ID ----

    @Test
    void flush() {
        start();
        Req req = submit(BlockRequest.T_FLUSH, 0);
        assertEquals(1, usedLen(req, 1));
        assertEquals(OK, statusOf(req));
        assertEquals(1, image.count("flush"));
        assertEquals(1, blk.metrics().flushes.sum());
    }

    @Test
    void getIdPadsTheSerialWithZeros() {
        start();
        long buf = data(20, 0xaa);
        Req req = submit(BlockRequest.T_GET_ID, 0, w(buf, 20));
        assertEquals(21, usedLen(req, 1));
        assertEquals(OK, statusOf(req));
        byte[] want = new byte[20];
        System.arraycopy("jkvm-serial-01".getBytes(), 0, want, 0, 14);
        assertArrayEquals(want, guestBytes(buf, 20));
    }

    @Test
    void getIdIntoAShortBufferWritesOnlyWhatFits() {
        start();
        long buf = data(16, 0xaa);
        Req req = submit(BlockRequest.T_GET_ID, 0, w(buf, 8));
        assertEquals(9, usedLen(req, 1));
        assertEquals(OK, statusOf(req));
        byte[] want = new byte[16];
        Arrays.fill(want, (byte) 0xaa);
        System.arraycopy("jkvm-ser".getBytes(), 0, want, 0, 8);
        assertArrayEquals(want, guestBytes(buf, 16));
        // a buffer larger than 20 bytes gets 20
        long big = data(64, 0xaa);
        Req req2 = submit(BlockRequest.T_GET_ID, 0, w(big, 64));
        assertEquals(21, usedLen(req2, 2));
        assertEquals((byte) 0xaa, guestBytes(big, 21)[20]);
    }

    @Test
    void getIdOfA20ByteSerialHasNoTerminatorAndNoSerialIsAllZeros() {
        start(false, DriveOptions.of(Path.of("x")).withSerial("ABCDEFGHIJKLMNOPQRST"), 0, 0);
        long buf = data(20, 0xaa);
        Req req = submit(BlockRequest.T_GET_ID, 0, w(buf, 20));
        usedLen(req, 1);
        assertArrayEquals("ABCDEFGHIJKLMNOPQRST".getBytes(), guestBytes(buf, 20));
        transport.close();
        guest.close();
        start(false, DriveOptions.of(Path.of("x")), 0, 0);
        long buf2 = data(20, 0xaa);
        Req req2 = submit(BlockRequest.T_GET_ID, 0, w(buf2, 20));
        usedLen(req2, 1);
        assertArrayEquals(new byte[20], guestBytes(buf2, 20));
    }

    // ---- DISCARD, WRITE_ZEROES ----

    @Test
    void discardAndWriteZeroes() {
        start();
        Req d = submit(BlockRequest.T_DISCARD, 0, r(segment(8, 16, 0), 16));
        assertEquals(1, usedLen(d, 1));
        assertEquals(OK, statusOf(d));
        Req z = submit(BlockRequest.T_WRITE_ZEROES, 0, r(segment(100, 2, 0), 16));
        usedLen(z, 2);
        assertEquals(OK, statusOf(z));
        Req zu = submit(BlockRequest.T_WRITE_ZEROES, 0, r(segment(SECTORS - 4, 4, BlockRequest.WRITE_ZEROES_FLAG_UNMAP), 16));
        usedLen(zu, 3);
        assertEquals(OK, statusOf(zu));
        List<FakeImage.Call> calls = image.calls;
        assertEquals(new FakeImage.Call("discard", 4096, 8192, 0, false, calls.get(0).thread()), calls.get(0));
        assertEquals("writeZeroes", calls.get(1).op());
        assertEquals(51200, calls.get(1).offset());
        assertEquals(1024, calls.get(1).length());
        assertFalse(calls.get(1).mayUnmap());
        assertTrue(calls.get(2).mayUnmap());
        assertEquals(DISK - 2048, calls.get(2).offset());
        assertArrayEquals(new byte[1024], diskBytes(51200, 1024));
        assertEquals(3, blk.metrics().discards.sum());
    }

    @Test
    void discardFlagsOtherThanUnmapOnWriteZeroesAreUnsupported() {
        start();
        int n = 0;
        int[][] cases = {
            {BlockRequest.T_DISCARD, BlockRequest.WRITE_ZEROES_FLAG_UNMAP},
            {BlockRequest.T_DISCARD, 2},
            {BlockRequest.T_DISCARD, 0x80000000},
            {BlockRequest.T_WRITE_ZEROES, 2},
            {BlockRequest.T_WRITE_ZEROES, 3},
            {BlockRequest.T_WRITE_ZEROES, 0x80000000},
        };
        for (int[] c : cases) {
            Req req = submit(c[0], 0, r(segment(0, 8, c[1]), 16));
            assertEquals(1, usedLen(req, ++n));
            assertEquals(UNSUPP, statusOf(req), "type " + c[0] + " flags " + c[1]);
        }
        assertEquals(0, image.calls.size());
    }

    @Test
    void badDiscardSegmentListsAndRangesAreIoErrors() {
        start();
        long two = guest.alloc(32);
        guest.mem.write64(two, 0);
        guest.mem.write32(two + 8, 1);
        guest.mem.write64(two + 16, 8);
        guest.mem.write32(two + 24, 1);
        long[][] ranges = {{SECTORS - 1, 2}, {SECTORS, 1}, {SECTORS + 1, 0}, {1L << 63, 1}, {-1L, 1}, {0, 0x400000}, {0, 0xffffffffL}};
        List<Req> reqs = new ArrayList<>();
        reqs.add(submit(BlockRequest.T_DISCARD, 0, r(two, 32)));
        reqs.add(submit(BlockRequest.T_WRITE_ZEROES, 0, r(two, 32)));
        reqs.add(submit(BlockRequest.T_DISCARD, 0, r(two, 24)));
        reqs.add(submit(BlockRequest.T_DISCARD, 0));
        for (long[] range : ranges) {
            reqs.add(submit(BlockRequest.T_WRITE_ZEROES, 0, r(segment(range[0], range[1], 0), 16)));
        }
        await("all used", () -> ring.usedIdx() == reqs.size());
        // Two segments exceed max_discard_seg (1): UNSUPP, as QEMU answers; the malformed ones are IOERR.
        assertEquals(BlockRequest.S_UNSUPP, statusOf(reqs.get(0)), "two DISCARD segments");
        assertEquals(BlockRequest.S_UNSUPP, statusOf(reqs.get(1)), "two WRITE_ZEROES segments");
        for (int i = 2; i < reqs.size(); i++) {
            assertEquals(IOERR, statusOf(reqs.get(i)), "request " + i);
        }
        assertEquals(0, image.calls.size());
        // the largest range the device advertises, ending exactly at the end of the disk, is fine
        Req ok = submit(BlockRequest.T_DISCARD, 0, r(segment(0, SECTORS, 0), 16));
        usedLen(ok, reqs.size() + 1);
        assertEquals(OK, statusOf(ok));
    }

    @Test
    void unknownRequestTypesAreUnsupported() {
        start();
        int[] types = {2, 3, 5, 7, 9, 10, 12, 14, 16, 0x7fffffff, 0xffffffff};
        for (int i = 0; i < types.length; i++) {
            Req req = submit(types[i], 0, w(data(512, 0), 512));
            assertEquals(1, usedLen(req, i + 1));
            assertEquals(UNSUPP, statusOf(req), "type " + types[i]);
        }
        assertEquals(0, image.calls.size());
        assertEquals(0, driver.status() & NEEDS_RESET);
    }

    @Test
    void moreDataSegmentsThanTheDeviceTakesAreIoErrors() {
        start(false, DriveOptions.of(Path.of("x")), 0, VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC));
        int segs = 40;
        DriverRing.Seg[] chain = new DriverRing.Seg[segs + 2];
        chain[0] = r(header(BlockRequest.T_IN, 0), 16);
        long buf = data(512 * segs, 0);
        for (int i = 0; i < segs; i++) {
            chain[i + 1] = w(buf + 512L * i, 512);
        }
        long s = status();
        chain[segs + 1] = w(s, 1);
        ring.publish(ring.writeIndirect(guest.alloc(16 * chain.length), chain));
        driver.notify(0);
        await("used", () -> ring.usedIdx() == 1);
        assertEquals(IOERR, guest.mem.read8(s));
        assertEquals(0, image.calls.size());
    }

    // ---- protocol violations ----

    @ParameterizedTest
    @ValueSource(strings = {"threads", "io_uring"})
    void aRequestWithoutAHeaderNeedsAReset(String aio) {
        start(aio);
        long h = header(BlockRequest.T_IN, 0);
        ring.add(r(h, 15), w(status(), 1));
        driver.notify(0);
        await("DEVICE_NEEDS_RESET", () -> (driver.status() & NEEDS_RESET) != 0);
        await("the config interrupt", () -> msi.triggers(CONFIG_DATA) == 1);
        assertEquals(0, ring.usedIdx());
        assertEquals(0, image.calls.size());
        assertTrue(transport.lastFailure().contains("header"), transport.lastFailure());
    }

    @ParameterizedTest
    @ValueSource(strings = {"threads", "io_uring"})
    void aRequestWithoutAStatusByteNeedsAReset(String aio) {
        start(aio);
        ring.add(r(header(BlockRequest.T_OUT, 0), 16), r(data(512, 0), 512));
        driver.notify(0);
        await("DEVICE_NEEDS_RESET", () -> (driver.status() & NEEDS_RESET) != 0);
        // The status is visible before the I/O thread raises the interrupt.
        await("the config interrupt", () -> msi.triggers(CONFIG_DATA) == 1);
        assertEquals(1, transport.failureCount());
        assertEquals(1, msi.triggers(CONFIG_DATA));
        assertEquals(0, image.calls.size());
        // The device stays quiet until it is reset, then works again.
        driver.setStatus(0);
        bringUp(0);
        Req req = submit(BlockRequest.T_FLUSH, 0);
        assertEquals(1, usedLen(req, 1));
        assertEquals(OK, statusOf(req));
    }

    // ---- with a real image file ----

    @ParameterizedTest
    @ValueSource(strings = {"threads", "io_uring"})
    void aRealImageWithCacheNoneAndUnalignedGuestBuffers(String aio, @org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        if (aio.equals("io_uring")) {
            assumeTrue(IoUring.available(), "io_uring is not available on this kernel");
        }
        Path file = dir.resolve("real.img");
        byte[] model = new byte[DISK];
        new java.util.Random(5).nextBytes(model);
        java.nio.file.Files.write(file, model);
        DriveOptions options = DriveOptions.of(file).withCache(CacheMode.NONE).withDiscard(true).withAio(aio);
        start(RawFileImage.open(file, false, CacheMode.NONE, true), options, 2, 0);
        // aligned buffers go to the kernel as they are (READV/WRITEV on the ring with io_uring)
        long aligned = guest.alloc(8192, 4096);
        guest.mem.fill(aligned, 4096, (byte) 0x3c);
        Req alignedOut = submit(BlockRequest.T_OUT, 40, r(aligned, 4096));
        Req alignedIn = submit(BlockRequest.T_IN, 100, w(aligned + 4096, 2048), w(aligned + 6144, 2048));
        assertEquals(4097, usedLen(alignedIn, 2));
        assertEquals(OK, statusOf(alignedOut));
        assertEquals(OK, statusOf(alignedIn));
        Arrays.fill(model, 40 * 512, 48 * 512, (byte) 0x3c);
        assertArrayEquals(Arrays.copyOfRange(model, 100 * 512, 108 * 512), guestBytes(aligned + 4096, 4096));
        int base = 2;
        // OUT from three descriptors at odd guest addresses: 100 + 412 + 1024 bytes
        long a = guest.alloc(2000, 4096) + 3;
        byte[] payload = new byte[1536];
        new java.util.Random(6).nextBytes(payload);
        guest.mem.write(a, payload, 0, 1536);
        Req out = submit(BlockRequest.T_OUT, 3, r(a, 100), r(a + 100, 412), r(a + 512, 1024));
        usedLen(out, base + 1);
        assertEquals(OK, statusOf(out));
        System.arraycopy(payload, 0, model, 3 * 512, 1536);
        // IN of the same range, split differently, also unaligned
        long b = guest.alloc(2000, 4096) + 7;
        Req in = submit(BlockRequest.T_IN, 3, w(b, 1000), w(b + 1000, 536));
        assertEquals(1537, usedLen(in, base + 2));
        assertEquals(OK, statusOf(in));
        assertArrayEquals(payload, guestBytes(b, 1536));
        // DISCARD of no sectors is nothing to do; of some, a hole that reads as zeros
        Req none = submit(BlockRequest.T_DISCARD, 0, r(segment(8, 0, 0), 16));
        usedLen(none, base + 3);
        assertEquals(OK, statusOf(none), "a DISCARD of 0 sectors with discard=unmap");
        Req some = submit(BlockRequest.T_DISCARD, 0, r(segment(64, 128, 0), 16));
        usedLen(some, base + 4);
        assertEquals(OK, statusOf(some));
        Arrays.fill(model, 64 * 512, 192 * 512, (byte) 0);
        Req zeros = submit(BlockRequest.T_WRITE_ZEROES, 0, r(segment(1000, 3, BlockRequest.WRITE_ZEROES_FLAG_UNMAP), 16));
        usedLen(zeros, base + 5);
        assertEquals(OK, statusOf(zeros));
        Arrays.fill(model, 1000 * 512, 1003 * 512, (byte) 0);
        Req flush = submit(BlockRequest.T_FLUSH, 0);
        usedLen(flush, base + 6);
        assertEquals(OK, statusOf(flush));
        assertEquals(0, blk.metrics().ioErrors.sum());
        assertArrayEquals(model, java.nio.file.Files.readAllBytes(file));
    }

    // ---- concurrency and reset ----

    private List<Thread> deviceThreads() {
        String prefix = "virtio-blk-" + id + "-";
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith(prefix) && t.isAlive()).toList();
    }

    @Test
    void aFullQueueOfRequestsAllCompleteExactlyOnce() {
        start();
        image.readGate = new Semaphore(0);
        int depth = QUEUE_SIZE / 3;
        // ten requests of three descriptors each fill 30 of the 32 descriptors
        List<Req> reqs = new ArrayList<>();
        List<Long> bufs = new ArrayList<>();
        for (int i = 0; i < depth; i++) {
            long buf = data(512, 0);
            bufs.add(buf);
            long h = header(BlockRequest.T_IN, 10 + i);
            long s = status();
            reqs.add(new Req(ring.add(r(h, 16), w(buf, 512), w(s, 1)), s));
        }
        driver.notify(0);
        // The dispatcher keeps one and the two I/O threads take one each; the rest wait in the pool.
        await("three reads in the image at once", () -> image.readsWaiting.get() == 3);
        assertEquals(0, ring.usedIdx());
        image.readGate.release(depth);
        await("all used", () -> ring.usedIdx() == depth);
        Set<Integer> heads = new HashSet<>();
        for (int i = 0; i < depth; i++) {
            assertTrue(heads.add(ring.usedId(i)), "head " + ring.usedId(i) + " used twice");
            assertEquals(513, ring.usedLen(i));
        }
        assertEquals(reqs.stream().map(Req::head).collect(java.util.stream.Collectors.toSet()), heads);
        for (int i = 0; i < depth; i++) {
            assertEquals(OK, statusOf(reqs.get(i)));
            assertArrayEquals(diskBytes((10 + i) * 512L, 512), guestBytes(bufs.get(i), 512), "request " + i);
        }
        assertEquals(depth, image.count("read"));
        assertEquals(3, image.maxInFlight.get());
        assertTrue(image.calls.stream().anyMatch(c -> c.thread().startsWith("virtio-blk-" + id + "-io")));
        // Then the ring is reused many times over, 16-bit indexes wrapping included.
        image.readGate = null;
        int done = depth;
        for (int round = 0; round < 7000; round++) {
            int batch = 1 + round % depth;
            for (int i = 0; i < batch; i++) {
                ring.add(r(header(BlockRequest.T_FLUSH, 0), 16), w(0x200000 + i, 1));
            }
            driver.notify(0);
            done += batch;
            int want = done & 0xffff;
            await("round " + round, () -> ring.usedIdx() == want);
            if (guest.alloc(0) > 12 * MiB) {
                throw new AssertionError("test ran out of guest memory");
            }
        }
        assertEquals(done - depth, blk.metrics().flushes.sum());
    }

    @Test
    void resetWaitsForRequestsInFlightAndNeverCompletesIntoTheResetQueue() throws Exception {
        start();
        Semaphore gate = new Semaphore(0);
        image.readGate = gate;
        assertEquals(3, deviceThreads().size(), "dispatcher and two I/O threads: " + deviceThreads());
        for (int i = 0; i < 8; i++) {
            ring.add(r(header(BlockRequest.T_IN, i), 16), w(data(512, 0), 512), w(status(), 1));
        }
        driver.notify(0);
        await("three reads in flight", () -> image.readsWaiting.get() == 3);

        Thread vcpu = Thread.ofPlatform().name("vcpu-reset").start(() -> driver.setStatus(0));
        await("the reset to wait for the device threads", () -> vcpu.getState() == Thread.State.WAITING
                || vcpu.getState() == Thread.State.TIMED_WAITING);
        // The reads are still held: the reset cannot have finished.
        assertTrue(vcpu.isAlive());
        assertEquals(3, deviceThreads().size());
        gate.release(1000);
        vcpu.join(TestGuest.TIMEOUT.toMillis());
        assertFalse(vcpu.isAlive(), "the reset returned");
        assertEquals(List.of(), deviceThreads(), "no device thread outlives the reset");
        assertEquals(0, driver.status());
        // What was in flight completed before the reset returned; queued requests were dropped.
        assertEquals(3, ring.usedIdx(), "the three running requests completed");
        for (int i = 0; i < 3; i++) {
            assertEquals(513, ring.usedLen(i));
        }
        long readsBefore = image.count("read");
        assertEquals(3, readsBefore, "the five queued ones never reached the image");

        // Wipe the old used ring, start again on the same rings: only the new request may appear.
        image.readGate = null;
        bringUp(0);
        assertEquals(3, deviceThreads().size());
        Req req = submit(BlockRequest.T_FLUSH, 0);
        assertEquals(1, usedLen(req, 1));
        assertEquals(req.head(), ring.usedId(0));
        for (int i = 1; i < QUEUE_SIZE; i++) {
            assertEquals(0, ring.usedId(i), "used element " + i);
            assertEquals(0, ring.usedLen(i));
        }
        assertEquals(readsBefore, image.count("read"), "no stale request ran after the reset");
    }

    @Test
    void closeStopsTheThreadsAndClosesTheImage() throws Exception {
        start();
        assertEquals(3, deviceThreads().size());
        transport.close();
        assertEquals(List.of(), deviceThreads());
        assertEquals(0, image.closed.getCount());
        transport = null;
        guest.close();
        guest = null;
    }
}
