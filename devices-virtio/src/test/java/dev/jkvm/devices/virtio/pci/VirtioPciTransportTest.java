package dev.jkvm.devices.virtio.pci;

import dev.jkvm.devices.virtio.DriverRing;
import dev.jkvm.devices.virtio.FakeMsi;
import dev.jkvm.devices.virtio.TestGuest;
import dev.jkvm.devices.virtio.VirtioFeatures;
import dev.jkvm.devices.virtio.VirtioPciDriver;
import dev.jkvm.vmm.device.EventFd;
import dev.jkvm.vmm.pci.PciAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static dev.jkvm.devices.virtio.DriverRing.r;
import static dev.jkvm.devices.virtio.DriverRing.w;
import static dev.jkvm.devices.virtio.TestGuest.MiB;
import static dev.jkvm.devices.virtio.TestGuest.await;
import static dev.jkvm.devices.virtio.VirtioPciDriver.ACKNOWLEDGE;
import static dev.jkvm.devices.virtio.VirtioPciDriver.CONFIG_GENERATION;
import static dev.jkvm.devices.virtio.VirtioPciDriver.CONFIG_MSIX_VECTOR;
import static dev.jkvm.devices.virtio.VirtioPciDriver.DEVICE_FEATURE;
import static dev.jkvm.devices.virtio.VirtioPciDriver.DEVICE_FEATURE_SELECT;
import static dev.jkvm.devices.virtio.VirtioPciDriver.DRIVER;
import static dev.jkvm.devices.virtio.VirtioPciDriver.DRIVER_FEATURE;
import static dev.jkvm.devices.virtio.VirtioPciDriver.DRIVER_FEATURE_SELECT;
import static dev.jkvm.devices.virtio.VirtioPciDriver.DRIVER_OK;
import static dev.jkvm.devices.virtio.VirtioPciDriver.FEATURES_OK;
import static dev.jkvm.devices.virtio.VirtioPciDriver.NEEDS_RESET;
import static dev.jkvm.devices.virtio.VirtioPciDriver.NO_VECTOR;
import static dev.jkvm.devices.virtio.VirtioPciDriver.NUM_QUEUES;
import static dev.jkvm.devices.virtio.VirtioPciDriver.QUEUE_DESC;
import static dev.jkvm.devices.virtio.VirtioPciDriver.QUEUE_DEVICE;
import static dev.jkvm.devices.virtio.VirtioPciDriver.QUEUE_DRIVER;
import static dev.jkvm.devices.virtio.VirtioPciDriver.QUEUE_ENABLE;
import static dev.jkvm.devices.virtio.VirtioPciDriver.QUEUE_MSIX_VECTOR;
import static dev.jkvm.devices.virtio.VirtioPciDriver.QUEUE_NOTIFY_OFF;
import static dev.jkvm.devices.virtio.VirtioPciDriver.QUEUE_SELECT;
import static dev.jkvm.devices.virtio.VirtioPciDriver.QUEUE_SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VirtioPciTransportTest {
    private static final long VERSION_1 = VirtioFeatures.bit(VirtioFeatures.VERSION_1);
    private static final long EVENT_IDX = VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX);
    private static final long INDIRECT = VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC);
    private static final int CONFIG_DATA = 0x100;
    private static final int QUEUE_DATA = 0x101;

    private TestGuest guest;
    private FakeMsi msi;
    private FakeMsi.IoEvents ioEvents;
    private FakeMsi.Line intx;
    private EchoDevice device;
    private VirtioPciTransport transport;
    private VirtioPciDriver driver;

    @BeforeEach
    void setUp() {
        guest = new TestGuest(16 * MiB);
        msi = new FakeMsi();
        ioEvents = new FakeMsi.IoEvents();
        intx = new FakeMsi.Line();
        device = new EchoDevice();
        transport = new VirtioPciTransport(device, guest.mem, msi, ioEvents);
        transport.attached(new PciAddress(3, 0), intx);
        driver = new VirtioPciDriver(transport);
    }

    @AfterEach
    void tearDown() {
        CountDownLatch gate = device.resetGate;
        if (gate != null) {
            gate.countDown();
        }
        transport.close();
        guest.close();
    }

    private boolean msix;

    /**
     * MSI-X on, table entries 0 and 1 with distinct messages, and the config vector 0 (set again
     * by {@link #start} after its reset, as a driver does).
     */
    private void msixOn() {
        msix = true;
        driver.enableMsix(true);
        driver.programVector(0, CONFIG_DATA);
        driver.programVector(1, QUEUE_DATA);
        driver.setCommon(CONFIG_MSIX_VECTOR, 2, 0);
    }

    private boolean negotiate(long features) {
        boolean ok = driver.negotiate(features);
        if (msix) {
            driver.setCommon(CONFIG_MSIX_VECTOR, 2, 0);
        }
        return ok;
    }

    /** Negotiates, sets queue 0 up with the ring, and sets DRIVER_OK. */
    private DriverRing start(long features, int queueVector) {
        assertTrue(negotiate(features));
        DriverRing ring = new DriverRing(guest.mem, 8, guest.alloc(0x3000, 4096));
        guest.alloc(0x2000, 4096);
        driver.setUpQueue(0, ring, queueVector);
        driver.driverOk();
        assertEquals(1, device.activations.get());
        return ring;
    }

    // ---- identity and capabilities ----

    @Test
    void presentsAModernVirtioFunction() {
        assertEquals(0x1af4, driver.cfg(0x00, 2));
        assertEquals(0x1040 + EchoDevice.ID, driver.cfg(0x02, 2));
        assertEquals(1, driver.cfg(0x08, 1), "revision 1: no legacy interface");
        assertEquals(0xff0000, driver.cfg(0x09, 3));
        assertEquals(0x1af4, driver.cfg(0x2c, 2));
        assertEquals(1, driver.cfg(0x3d, 1), "INTA");
        // BAR 1: 32-bit memory, 4 KiB; BAR 4/5: 64-bit prefetchable memory, 16 KiB.
        driver.setCfg(0x14, 4, 0xffffffffL);
        assertEquals(0xfffff000L, driver.cfg(0x14, 4));
        driver.setCfg(0x20, 4, 0xffffffffL);
        driver.setCfg(0x24, 4, 0xffffffffL);
        assertEquals(0xffffc000L | 0xc, driver.cfg(0x20, 4));
        assertEquals(0xffffffffL, driver.cfg(0x24, 4));
        assertNull(transport.bar(0));
        assertNull(transport.bar(2));
        assertNotNull(transport.bar(1));
        assertNotNull(transport.bar(4));
    }

    @Test
    void capabilityListHoldsEveryVirtioStructureInsideBar4() {
        assertEquals(5, driver.capCount);
        VirtioPciDriver.Cap common = driver.cap(1);
        VirtioPciDriver.Cap notify = driver.cap(2);
        VirtioPciDriver.Cap isr = driver.cap(3);
        VirtioPciDriver.Cap dev = driver.cap(4);
        VirtioPciDriver.Cap pciCfg = driver.cap(5);
        for (VirtioPciDriver.Cap c : new VirtioPciDriver.Cap[] {common, notify, isr, dev}) {
            assertEquals(4, c.bar(), "type " + c.type());
            assertTrue(c.offset() + c.length() <= 0x4000, "type " + c.type() + " inside the BAR");
            assertEquals(c.type() == 2 ? 20 : 16, c.capLen());
        }
        assertTrue(common.length() >= 0x38, "common configuration covers struct virtio_pci_common_cfg");
        assertTrue(isr.length() >= 1);
        assertEquals(8, dev.length());
        assertEquals(20, pciCfg.capLen());
        // notify: every queue's address (notify_off * multiplier) + 2 bytes lies in the structure
        assertEquals(4, driver.notifyMultiplier);
        for (int q = 0; q < EchoDevice.QUEUES; q++) {
            driver.selectQueue(q);
            long off = driver.common(QUEUE_NOTIFY_OFF, 2) * driver.notifyMultiplier;
            assertTrue(off + 2 <= notify.length(), "queue " + q);
        }
        // the structures do not overlap
        long[][] spans = {{common.offset(), common.length()}, {notify.offset(), notify.length()}, {isr.offset(), isr.length()},
            {dev.offset(), dev.length()}};
        for (int i = 0; i < spans.length; i++) {
            for (int j = i + 1; j < spans.length; j++) {
                assertTrue(spans[i][0] + spans[i][1] <= spans[j][0] || spans[j][0] + spans[j][1] <= spans[i][0]);
            }
        }
        // MSI-X: one vector per queue and one for configuration, table and PBA in BAR 1
        assertTrue(driver.msixCap > 0);
        assertEquals(EchoDevice.QUEUES + 1, driver.msixTableSize());
        assertEquals(1, driver.cfg(driver.msixCap + 4, 4) & 7);
        assertEquals(1, driver.cfg(driver.msixCap + 8, 4) & 7);
        long tableEnd = (driver.cfg(driver.msixCap + 4, 4) & ~7L) + 16L * driver.msixTableSize();
        assertTrue(tableEnd <= (driver.cfg(driver.msixCap + 8, 4) & ~7L));
        // the device configuration is the device's
        assertEquals(0x44332211L, driver.deviceConfig(0, 4));
        assertEquals(0x88776655L, driver.deviceConfig(4, 4));
        transport.bar(4).write(dev.offset() + 2, 2, 0xbeef);
        assertEquals(1, device.configWrites.size());
        assertEquals(2, device.configWrites.get(0)[0]);
        assertEquals(0xbeef, device.configWrites.get(0)[2]);
    }

    // ---- features ----

    @Test
    void deviceFeaturesBySelect() {
        long offered = EchoDevice.FEATURE_A | EchoDevice.FEATURE_REFUSED | EchoDevice.FEATURE_HIGH | VERSION_1 | EVENT_IDX | INDIRECT;
        assertEquals(offered, driver.deviceFeatures());
        long[] beyond = {2, 3, 0x80000000L, 0xffffffffL, 0xfffffffeL};
        for (long sel : beyond) {
            driver.setCommon(DEVICE_FEATURE_SELECT, 4, sel);
            assertEquals(sel, driver.common(DEVICE_FEATURE_SELECT, 4));
            assertEquals(0, driver.common(DEVICE_FEATURE, 4), "device_feature with select 0x" + Long.toHexString(sel));
        }
    }

    @Test
    void driverFeaturesOutsideTheFirst64BitsAreIgnored() {
        driver.setStatus(ACKNOWLEDGE | DRIVER);
        driver.setDriverFeatures(VERSION_1 | EchoDevice.FEATURE_A);
        for (long sel : new long[] {2, 0x80000000L, 0xffffffffL}) {
            driver.setCommon(DRIVER_FEATURE_SELECT, 4, sel);
            driver.setCommon(DRIVER_FEATURE, 4, 0xffffffffL);
            assertEquals(0, driver.common(DRIVER_FEATURE, 4));
        }
        driver.setCommon(DRIVER_FEATURE_SELECT, 4, 0);
        assertEquals(EchoDevice.FEATURE_A, driver.common(DRIVER_FEATURE, 4));
        driver.setCommon(DRIVER_FEATURE_SELECT, 4, 1);
        assertEquals(1, driver.common(DRIVER_FEATURE, 4));
        driver.setStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        assertEquals(VERSION_1 | EchoDevice.FEATURE_A, transport.features());
    }

    @Test
    void featuresOkIsRefusedWithoutVersion1() {
        assertFalse(driver.negotiate(EchoDevice.FEATURE_A));
        assertEquals(ACKNOWLEDGE | DRIVER, driver.status());
        assertEquals(0, transport.features());
    }

    @Test
    void featuresOkIsRefusedForFeaturesNotOffered() {
        assertFalse(driver.negotiate(VERSION_1 | VirtioFeatures.bit(VirtioFeatures.RING_PACKED)));
        assertFalse(driver.negotiate(VERSION_1 | 1L << 3));
        assertFalse(driver.negotiate(VERSION_1 | 1L << 63));
        assertEquals(0, transport.features());
    }

    @Test
    void featuresOkIsRefusedWhenTheDeviceCannotWorkWithThem() {
        assertFalse(driver.negotiate(VERSION_1 | EchoDevice.FEATURE_REFUSED));
        assertEquals(0, transport.features());
    }

    @Test
    void featuresOkIsAcceptedForOfferedFeaturesAndFreezesThem() {
        long wanted = VERSION_1 | EVENT_IDX | EchoDevice.FEATURE_A | EchoDevice.FEATURE_HIGH;
        assertTrue(driver.negotiate(wanted));
        assertEquals(ACKNOWLEDGE | DRIVER | FEATURES_OK, driver.status());
        assertEquals(wanted, transport.features());
        // Later writes to driver_feature change nothing.
        driver.setDriverFeatures(VERSION_1);
        driver.setCommon(DRIVER_FEATURE_SELECT, 4, 0);
        assertEquals(wanted & 0xffffffffL, driver.common(DRIVER_FEATURE, 4));
        assertEquals(wanted, transport.features());
    }

    // ---- status ----

    @Test
    void writingZeroResetsTheDeviceAndWaitsForIt() throws Exception {
        msixOn();
        DriverRing ring = start(VERSION_1 | EVENT_IDX, 1);
        driver.selectQueue(2);
        driver.setCommon(QUEUE_SIZE, 2, 4);
        driver.setCommon(QUEUE_MSIX_VECTOR, 2, 2);
        driver.write64(QUEUE_DESC, 0x123450);
        driver.setCommon(DEVICE_FEATURE_SELECT, 4, 1);
        driver.setCommon(DRIVER_FEATURE_SELECT, 4, 1);

        device.resetGate = new CountDownLatch(1);
        Thread vcpu = Thread.ofPlatform().name("vcpu").start(() -> driver.setStatus(0));
        assertTrue(device.resetEntered.await(20, TimeUnit.SECONDS));
        // The device is still resetting: the write has not completed.
        assertTrue(vcpu.isAlive());
        assertEquals(0, device.resets.get());
        device.resetGate.countDown();
        vcpu.join(TimeUnit.SECONDS.toMillis(20));
        assertFalse(vcpu.isAlive());
        assertEquals(1, device.resets.get());

        assertEquals(0, driver.status());
        assertEquals(0, driver.common(DEVICE_FEATURE_SELECT, 4));
        assertEquals(0, driver.common(DRIVER_FEATURE_SELECT, 4));
        assertEquals(0, driver.common(DRIVER_FEATURE, 4));
        assertEquals(0, transport.features());
        assertEquals(NO_VECTOR, driver.common(CONFIG_MSIX_VECTOR, 2));
        assertEquals(0, driver.common(QUEUE_SELECT, 2));
        for (int q = 0; q < EchoDevice.QUEUES; q++) {
            driver.selectQueue(q);
            assertEquals(EchoDevice.MAX_SIZE, driver.common(QUEUE_SIZE, 2));
            assertEquals(NO_VECTOR, driver.common(QUEUE_MSIX_VECTOR, 2));
            assertEquals(0, driver.common(QUEUE_ENABLE, 2));
            assertEquals(0, driver.read64(QUEUE_DESC));
            assertEquals(0, driver.read64(QUEUE_DRIVER));
            assertEquals(0, driver.read64(QUEUE_DEVICE));
            assertFalse(transport.queue(q).isEnabled());
        }
        assertEquals(0, driver.isr());
        // Nothing uses the old ring after the reset.
        ring.add(r(0x200000, 8), w(0x200100, 8));
        driver.notify(0);
        assertEquals(0, ring.usedIdx());
        // And the device can be brought up again.
        DriverRing again = start2();
        again.add(r(0x200000, 8), w(0x200100, 8));
        driver.notify(0);
        await("the echo after a reset", () -> again.usedIdx() == 1);
    }

    private DriverRing start2() {
        assertTrue(driver.negotiate(VERSION_1));
        DriverRing ring = new DriverRing(guest.mem, 8, guest.alloc(0x3000, 4096));
        guest.alloc(0x2000, 4096);
        driver.setUpQueue(0, ring, NO_VECTOR);
        driver.driverOk();
        return ring;
    }

    @Test
    void driverOkWithoutFeaturesOkNeedsAReset() {
        msixOn();
        driver.setStatus(ACKNOWLEDGE | DRIVER);
        driver.setStatus(ACKNOWLEDGE | DRIVER | DRIVER_OK);
        assertTrue((driver.status() & NEEDS_RESET) != 0);
        assertEquals(0, device.activations.get());
        assertEquals(1, msi.triggers(CONFIG_DATA));
        assertTrue(transport.lastFailure().contains("DRIVER_OK without FEATURES_OK"));
    }

    @Test
    void needsResetStaysUntilReset() {
        driver.setStatus(ACKNOWLEDGE | DRIVER);
        transport.fail("test");
        assertEquals(ACKNOWLEDGE | DRIVER | NEEDS_RESET, driver.status());
        // the driver cannot clear it, nor get past it
        driver.setStatus(ACKNOWLEDGE | DRIVER);
        assertEquals(ACKNOWLEDGE | DRIVER | NEEDS_RESET, driver.status());
        driver.setDriverFeatures(VERSION_1);
        driver.setStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        driver.setStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assertTrue((driver.status() & NEEDS_RESET) != 0);
        assertEquals(0, device.activations.get(), "a device that needs a reset is not started");
        driver.setStatus(0);
        assertEquals(0, driver.status());
        assertNull(transport.lastFailure());
        assertTrue(driver.negotiate(VERSION_1));
    }

    // ---- queues ----

    @Test
    void queueRegistersOfAQueueThatDoesNotExist() {
        assertEquals(EchoDevice.QUEUES, driver.common(NUM_QUEUES, 2));
        for (int q : new int[] {EchoDevice.QUEUES, 100, 0xffff}) {
            driver.selectQueue(q);
            assertEquals(q, driver.common(QUEUE_SELECT, 2));
            driver.setCommon(QUEUE_SIZE, 2, 8);
            driver.setCommon(QUEUE_MSIX_VECTOR, 2, 0);
            driver.write64(QUEUE_DESC, 0x1000);
            driver.setCommon(QUEUE_ENABLE, 2, 1);
            assertEquals(0, driver.common(QUEUE_SIZE, 2), "a size of 0: the queue is not available");
            assertEquals(NO_VECTOR, driver.common(QUEUE_MSIX_VECTOR, 2));
            assertEquals(0, driver.common(QUEUE_ENABLE, 2));
            assertEquals(0, driver.read64(QUEUE_DESC));
        }
        assertEquals(0, driver.status() & NEEDS_RESET);
    }

    @Test
    void queueSizeAndAddressesAreWritableOnlyUntilTheQueueIsEnabled() {
        assertTrue(driver.negotiate(VERSION_1));
        driver.selectQueue(1);
        assertEquals(EchoDevice.MAX_SIZE, driver.common(QUEUE_SIZE, 2));
        driver.setCommon(QUEUE_SIZE, 2, 4);
        assertEquals(4, driver.common(QUEUE_SIZE, 2));
        // 64-bit addresses as two 32-bit halves, and as one 64-bit access
        driver.write64(QUEUE_DESC, 0x0000_0001_2345_6780L);
        assertEquals(0x2345_6780L, driver.common(QUEUE_DESC, 4));
        assertEquals(0x1L, driver.common(QUEUE_DESC + 4, 4));
        assertEquals(0x0000_0001_2345_6780L, driver.common(QUEUE_DESC, 8));
        driver.setCommon(QUEUE_DRIVER, 8, 0xfedc_ba98_7654_3210L);
        assertEquals(0xfedc_ba98_7654_3210L, driver.read64(QUEUE_DRIVER));
        // now the real rings
        long base = guest.alloc(0x2000, 4096);
        driver.write64(QUEUE_DESC, base);
        driver.write64(QUEUE_DRIVER, base + 0x100);
        driver.write64(QUEUE_DEVICE, base + 0x1000);
        driver.setCommon(QUEUE_ENABLE, 2, 1);
        assertEquals(1, driver.common(QUEUE_ENABLE, 2));
        assertEquals(0, driver.status() & NEEDS_RESET);
        assertEquals(4, transport.queue(1).size());
        driver.setCommon(QUEUE_SIZE, 2, 8);
        driver.write64(QUEUE_DESC, base + 0x800);
        driver.setCommon(QUEUE_DEVICE, 4, 0);
        assertEquals(4, driver.common(QUEUE_SIZE, 2));
        assertEquals(base, driver.read64(QUEUE_DESC));
        assertEquals(base + 0x1000, driver.read64(QUEUE_DEVICE));
        // writing 0 to queue_enable does not disable it
        driver.setCommon(QUEUE_ENABLE, 2, 0);
        assertEquals(1, driver.common(QUEUE_ENABLE, 2));
        // queue 2 was never enabled, but after DRIVER_OK its size is frozen too
        driver.driverOk();
        driver.selectQueue(2);
        driver.setCommon(QUEUE_SIZE, 2, 2);
        assertEquals(EchoDevice.MAX_SIZE, driver.common(QUEUE_SIZE, 2));
    }

    @Test
    void enablingRingsOutsideRamNeedsAResetAndRaisesTheConfigVector() {
        msixOn();
        assertTrue(negotiate(VERSION_1));
        driver.selectQueue(0);
        driver.setCommon(QUEUE_SIZE, 2, 8);
        driver.write64(QUEUE_DESC, guest.ramSize - 64);
        driver.write64(QUEUE_DRIVER, 0x10000);
        driver.write64(QUEUE_DEVICE, 0x11000);
        driver.setCommon(QUEUE_ENABLE, 2, 1);
        assertEquals(0, driver.common(QUEUE_ENABLE, 2));
        assertTrue((driver.status() & NEEDS_RESET) != 0);
        assertEquals(1, msi.triggers(CONFIG_DATA));
        assertTrue(transport.lastFailure().contains("outside guest RAM"), transport.lastFailure());
    }

    @Test
    void enablingAQueueOfABadSizeNeedsAReset() {
        assertTrue(driver.negotiate(VERSION_1));
        driver.selectQueue(0);
        driver.setCommon(QUEUE_SIZE, 2, 3);
        driver.write64(QUEUE_DESC, 0x10000);
        driver.write64(QUEUE_DRIVER, 0x11000);
        driver.write64(QUEUE_DEVICE, 0x12000);
        driver.setCommon(QUEUE_ENABLE, 2, 1);
        assertEquals(0, driver.common(QUEUE_ENABLE, 2));
        assertTrue((driver.status() & NEEDS_RESET) != 0);
        // with INTx (MSI-X off) the configuration interrupt is ISR bit 1 and the line
        assertTrue(intx.level);
        assertEquals(2, driver.isr());
        assertFalse(intx.level);
    }

    @Test
    void vectorsOutsideTheTableReadBackAsNoVector() {
        int table = driver.msixTableSize();
        driver.setCommon(CONFIG_MSIX_VECTOR, 2, table);
        assertEquals(NO_VECTOR, driver.common(CONFIG_MSIX_VECTOR, 2));
        driver.setCommon(CONFIG_MSIX_VECTOR, 2, table - 1);
        assertEquals(table - 1, driver.common(CONFIG_MSIX_VECTOR, 2));
        driver.setCommon(CONFIG_MSIX_VECTOR, 2, 0x8000);
        assertEquals(NO_VECTOR, driver.common(CONFIG_MSIX_VECTOR, 2));
        driver.setCommon(CONFIG_MSIX_VECTOR, 2, NO_VECTOR);
        assertEquals(NO_VECTOR, driver.common(CONFIG_MSIX_VECTOR, 2));
        driver.selectQueue(1);
        driver.setCommon(QUEUE_MSIX_VECTOR, 2, table);
        assertEquals(NO_VECTOR, driver.common(QUEUE_MSIX_VECTOR, 2));
        driver.setCommon(QUEUE_MSIX_VECTOR, 2, 0xfffe);
        assertEquals(NO_VECTOR, driver.common(QUEUE_MSIX_VECTOR, 2));
        driver.setCommon(QUEUE_MSIX_VECTOR, 2, 2);
        assertEquals(2, driver.common(QUEUE_MSIX_VECTOR, 2));
    }

    // ---- interrupts ----

    @Test
    void withMsixOffTheIsrIsReadToClearAndDrivesIntx() {
        DriverRing ring = start(VERSION_1, NO_VECTOR);
        assertEquals(0, driver.isr());
        assertFalse(intx.level);
        ring.add(r(0x200000, 4), w(0x200100, 4));
        driver.notify(0);
        await("the used buffer", () -> ring.usedIdx() == 1);
        await("INTx", () -> intx.level);
        assertEquals(1, driver.isr(), "queue interrupt bit");
        assertFalse(intx.level, "reading the ISR lowers INTx");
        assertEquals(0, driver.isr(), "and clears it");
        transport.configChanged();
        assertTrue(intx.level);
        assertEquals(2, driver.isr(), "configuration interrupt bit");
        assertEquals(0, driver.isr());
        assertEquals(2, intx.raised.get());
        assertTrue(msi.vectors.stream().allMatch(v -> v.triggers.get() == 0));
    }

    @Test
    void withMsixOnInterruptsGoToTheVectorsAndNotTheIsr() {
        msixOn();
        DriverRing ring = start(VERSION_1, 1);
        guest.mem.write32(0x200000, 0x11223344);
        ring.add(r(0x200000, 4), w(0x200100, 4));
        driver.notify(0);
        await("the queue vector", () -> msi.triggers(QUEUE_DATA) == 1);
        assertEquals(1, ring.usedIdx());
        assertEquals(4, ring.usedLen(0));
        assertEquals(0x11223344, guest.mem.read32(0x200100));
        assertEquals(0xfee00000L, msi.byData(QUEUE_DATA).address);
        transport.configChanged();
        assertEquals(1, msi.triggers(CONFIG_DATA));
        assertEquals(0, driver.isr());
        assertFalse(intx.level);
        assertEquals(0, intx.raised.get());
    }

    @Test
    void aQueueWithoutAVectorRaisesNothingWithMsixOn() {
        msixOn();
        DriverRing ring = start(VERSION_1, NO_VECTOR);
        ring.add(r(0x200000, 4), w(0x200100, 4));
        driver.notify(0);
        await("the used buffer", () -> ring.usedIdx() == 1);
        assertEquals(0, msi.triggers(QUEUE_DATA));
        assertEquals(0, intx.raised.get());
        assertEquals(0, driver.isr());
    }

    @Test
    void configGenerationCountsConfigurationChanges() {
        msixOn();
        int g0 = (int) driver.common(CONFIG_GENERATION, 1);
        transport.configChanged();
        transport.configChanged();
        assertEquals((g0 + 2) & 0xff, driver.common(CONFIG_GENERATION, 1));
        assertEquals(2, msi.triggers(CONFIG_DATA));
        for (int i = 0; i < 254; i++) {
            transport.configChanged();
        }
        assertEquals(g0, driver.common(CONFIG_GENERATION, 1), "an 8-bit counter");
    }

    // ---- notifications ----

    @Test
    void notifyWritesSignalTheQueuesDoorbell() {
        try (Arena arena = Arena.ofConfined()) {
            EventFd.Reader[] readers = new EventFd.Reader[EchoDevice.QUEUES];
            for (int q = 0; q < EchoDevice.QUEUES; q++) {
                readers[q] = transport.doorbell(q).reader(arena);
            }
            driver.notify(2);
            driver.notify(2);
            driver.notify(0);
            assertEquals(2, readers[2].read());
            assertEquals(1, readers[0].read());
            // queue 1 was not notified: after one signal of our own it holds exactly 1
            transport.doorbell(1).signal();
            assertEquals(1, readers[1].read());
            // any width and value in the queue's 4 bytes is a notification; the next queue's are not
            VirtioPciDriver.Cap notify = driver.cap(2);
            transport.bar(4).write(notify.offset() + 4, 4, 0xdead);
            transport.bar(4).write(notify.offset() + 6, 1, 0);
            assertEquals(2, readers[1].read());
        }
    }

    @Test
    void doorbellsAreIoeventfdsThatFollowTheBar() {
        VirtioPciDriver.Cap notify = driver.cap(2);
        transport.barMoved(4, 0xfe000000L, true);
        assertEquals(EchoDevice.QUEUES, ioEvents.open().size());
        for (int q = 0; q < EchoDevice.QUEUES; q++) {
            FakeMsi.IoEvents.Reg reg = ioEvents.open().get(q);
            driver.selectQueue(q);
            assertEquals(0xfe000000L + notify.offset() + driver.common(QUEUE_NOTIFY_OFF, 2) * driver.notifyMultiplier, reg.address());
            assertEquals(2, reg.length());
            assertFalse(reg.pio());
            assertNull(reg.dataMatch());
            assertSame(transport.doorbell(q), reg.eventFd());
        }
        transport.barMoved(1, 0xfd000000L, true);
        assertEquals(EchoDevice.QUEUES, ioEvents.open().size(), "BAR 1 has no doorbells");
        transport.barMoved(4, 0x8_0000_0000L, true);
        assertEquals(2 * EchoDevice.QUEUES, ioEvents.registrations.size());
        assertEquals(EchoDevice.QUEUES, ioEvents.open().size());
        assertTrue(ioEvents.open().stream().allMatch(r -> r.address() >= 0x8_0000_0000L));
        transport.barMoved(4, 0, false);
        assertEquals(0, ioEvents.open().size());
        // KVM refusing an ioeventfd leaves the MMIO path
        ioEvents.fail = true;
        transport.barMoved(4, 0xfe000000L, true);
        try (Arena arena = Arena.ofConfined()) {
            driver.notify(1);
            assertEquals(1, transport.doorbell(1).reader(arena).read());
        }
    }

    // ---- VIRTIO_PCI_CAP_PCI_CFG ----

    @Test
    void pciCfgWindowReachesTheCommonConfiguration() {
        int cap = driver.cap(5).at();
        int data = cap + 16;
        driver.setCfg(cap + 4, 1, 4);
        driver.setCfg(cap + 8, 4, 0x12);
        driver.setCfg(cap + 12, 4, 2);
        assertEquals(EchoDevice.QUEUES, driver.cfg(data, 2), "num_queues through the window");
        driver.setCfg(cap + 8, 4, 0x14);
        driver.setCfg(cap + 12, 4, 1);
        driver.setCfg(data, 1, ACKNOWLEDGE);
        assertEquals(ACKNOWLEDGE, driver.status());
        assertEquals(ACKNOWLEDGE, driver.cfg(data, 1));
        long features = driver.deviceFeatures();
        driver.setCommon(DEVICE_FEATURE_SELECT, 4, 0);
        driver.setCfg(cap + 8, 4, 0x04);
        driver.setCfg(cap + 12, 4, 4);
        assertEquals(features & 0xffffffffL, driver.cfg(data, 4));
        // The fields read back what was written.
        assertEquals(4, driver.cfg(cap + 4, 1));
        assertEquals(4, driver.cfg(cap + 8, 4));
        // Another BAR, or a length other than 1, 2 or 4, reads as all ones and writes nothing.
        driver.setCfg(cap + 4, 1, 1);
        assertEquals(0xffffffffL, driver.cfg(data, 4));
        driver.setCfg(cap + 4, 1, 4);
        driver.setCfg(cap + 8, 4, 0x14);
        driver.setCfg(cap + 12, 4, 3);
        assertEquals(0xff, driver.cfg(data, 1));
        driver.setCfg(data, 1, 0);
        assertEquals(ACKNOWLEDGE, driver.status());
        driver.setCfg(cap + 12, 4, 1);
        assertEquals(0xffff, driver.cfg(data, 2), "an access wider than cap.length");
    }

    // ---- a hostile driver ----

    @Test
    void aHostileChainNeedsAResetAndRaisesTheConfigVectorOnce() {
        msixOn();
        DriverRing ring = start(VERSION_1 | EVENT_IDX, 1);
        ring.add(r(0x200000, 4), w(0x200100, 4));
        driver.notify(0);
        await("a good request", () -> ring.usedIdx() == 1);
        // descriptor 5 chained to itself
        ring.writeDesc(5, 0x200000, 4, DriverRing.NEXT, 5);
        ring.publish(5);
        driver.notify(0);
        await("DEVICE_NEEDS_RESET", () -> (driver.status() & NEEDS_RESET) != 0);
        await("the config vector", () -> msi.triggers(CONFIG_DATA) == 1);
        assertTrue(transport.lastFailure().contains("longer than its table"), transport.lastFailure());
        assertEquals(1, transport.failureCount());
        // Another violation is counted but not signalled again.
        transport.fail("again");
        assertEquals(2, transport.failureCount());
        assertEquals(1, msi.triggers(CONFIG_DATA));
        assertEquals(1, ring.usedIdx());
        assertEquals(DRIVER_OK, driver.status() & DRIVER_OK);
        // A reset recovers.
        driver.setStatus(0);
        assertEquals(1, device.resets.get());
        assertEquals(0, driver.status());
    }

    @Test
    void closeReleasesTheDeviceVectorsAndDoorbells() {
        msixOn();
        start(VERSION_1, 1);
        transport.close();
        assertEquals(1, device.resets.get());
        assertEquals(1, device.closes.get());
        assertTrue(msi.vectors.stream().allMatch(v -> v.closed));
        assertEquals(0, device.activations.get() - 1);
    }
}
