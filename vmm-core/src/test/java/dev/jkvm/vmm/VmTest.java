package dev.jkvm.vmm;

import dev.jkvm.vmm.device.BusDevice;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Boots hand-assembled guests on real KVM and checks what the exit loop delivers to devices. */
class VmTest {
    private static final int TEST_PORT = 0x500;
    private static final int EXIT_PORT = 0xf4;
    private static final long MMIO_BASE = 0xd0000000L;

    /** Records every access and answers reads from a script. */
    static final class Recorder implements BusDevice {
        final List<String> log = new ArrayList<>();
        long nextRead;

        @Override
        public synchronized long read(long offset, int size) {
            log.add(String.format("r%d@%x", size, offset));
            return nextRead++;
        }

        @Override
        public synchronized void write(long offset, int size, long value) {
            log.add(String.format("w%d@%x=%x", size, offset, value));
        }

        synchronized List<String> snapshot() {
            return List.copyOf(log);
        }
    }

    /** A port that ends the VM with the byte written, like isa-debug-exit. */
    static void installExitPort(Vm vm) {
        vm.pio().register(EXIT_PORT, 1, "exit", new BusDevice() {
            public long read(long offset, int size) {
                return 0;
            }

            public void write(long offset, int size, long value) {
                vm.requestStop(ExitStatus.debugExit((int) value));
            }
        });
    }

    @Test
    void portIoMmioAndStringIoReachTheDevices() throws Exception {
        TinyAsm a = new TinyAsm()
                .movDx(TEST_PORT).movAl(0x5a).outDxAl()
                .movEax(0x12345678).outDxEax()
                .inEaxDx().movRbx(0x2000).storeEaxToRbx()
                .movRsi(0x3000).movEcx(4).repOutsb()
                .movRdi(0x3100).movEcx(3).repInsb()
                .movRbx(MMIO_BASE + 4).loadEaxFromRbx().movRbx(0x2008).storeEaxToRbx()
                .movRbx(MMIO_BASE + 0x10).movRax(0x1122334455667788L).storeRaxToRbx()
                .movRbx(MMIO_BASE + 0x1000).loadEaxFromRbx().movRbx(0x200c).storeEaxToRbx()
                .movDx(0x600).inEaxDx().movRbx(0x2010).storeEaxToRbx()
                .movAl(7).outImmAl(EXIT_PORT).jmpSelf();
        try (TestVm t = new TestVm(a.bytes(), 1)) {
            t.memory.write(0x3000, new byte[] {1, 2, 3, 4}, 0, 4);
            Recorder port = new Recorder();
            port.nextRead = 0x10;
            Recorder mmio = new Recorder();
            mmio.nextRead = 0xCAFEBABEL;
            t.vm.pio().register(TEST_PORT, 8, "recorder", port);
            t.vm.mmio().register(MMIO_BASE, 0x1000, "mmio-recorder", mmio);
            installExitPort(t.vm);
            t.vm.start();
            ExitStatus status = t.vm.awaitExit(Duration.ofSeconds(20)).orElseThrow();
            assertEquals(ExitStatus.Reason.DEBUG_EXIT, status.reason(), status.detail());
            assertEquals(7, status.debugValue());
            assertEquals(15, status.code());

            assertEquals(List.of("w1@0=5a", "w4@0=12345678", "r4@0", "w1@0=1", "w1@0=2", "w1@0=3", "w1@0=4",
                    "r1@0", "r1@0", "r1@0"), port.snapshot());
            assertEquals(0x10, t.memory.read32(0x2000), "IN result reached the guest register");
            assertEquals(0x11, t.memory.read8(0x3100));
            assertEquals(0x13, t.memory.read8(0x3102), "rep insb stored each element");
            assertEquals(List.of("r4@4", "w8@10=1122334455667788"), mmio.snapshot());
            assertEquals(0xCAFEBABE, t.memory.read32(0x2008));
            assertEquals(0xffffffff, t.memory.read32(0x200c), "unclaimed MMIO reads all ones");
            assertEquals(0xffffffff, t.memory.read32(0x2010), "unclaimed port reads all ones");
            assertEquals(1, t.vm.mmio().unhandledReads());
            assertEquals(1, t.vm.pio().unhandledReads());
        }
    }

    @Test
    void aDeviceThatThrowsDoesNotKillTheVcpu() throws Exception {
        TinyAsm a = new TinyAsm().movDx(TEST_PORT).movAl(1).outDxAl().movAl(0).outImmAl(EXIT_PORT).jmpSelf();
        try (TestVm t = new TestVm(a.bytes(), 1)) {
            List<String> reported = new ArrayList<>();
            t.vm.pio().setErrorListener((bus, m, addr, write, e) -> reported.add(m.name() + ":" + e.getMessage()));
            t.vm.pio().register(TEST_PORT, 1, "broken", new BusDevice() {
                public long read(long offset, int size) {
                    throw new IllegalStateException("boom");
                }

                public void write(long offset, int size, long value) {
                    throw new IllegalStateException("boom");
                }
            });
            installExitPort(t.vm);
            t.vm.start();
            ExitStatus status = t.vm.awaitExit(Duration.ofSeconds(20)).orElseThrow();
            assertEquals(ExitStatus.Reason.DEBUG_EXIT, status.reason(), status.detail());
            assertEquals(List.of("broken:boom"), reported);
            assertEquals(1, t.vm.pio().deviceFailures());
        }
    }

    /** Signals a latch on the first write, so the test knows the vCPU is running guest code. */
    private static CountDownLatch signalOnWrite(Vm vm) {
        CountDownLatch latch = new CountDownLatch(1);
        vm.pio().register(TEST_PORT, 1, "latch", new BusDevice() {
            public long read(long offset, int size) {
                return 0;
            }

            public void write(long offset, int size, long value) {
                latch.countDown();
            }
        });
        return latch;
    }

    @Test
    void closeStopsAVcpuSpinningInGuestCode() throws Exception {
        TinyAsm a = new TinyAsm().movDx(TEST_PORT).outDxAl().jmpSelf();
        TestVm t = new TestVm(a.bytes(), 1);
        CountDownLatch running = signalOnWrite(t.vm);
        t.vm.start();
        assertTrue(running.await(20, TimeUnit.SECONDS), "guest reached its loop");
        assertTimeoutPreemptively(Duration.ofSeconds(10), t::close);
        assertEquals(ExitStatus.Reason.HOST_STOP, t.vm.exitStatus().orElseThrow().reason());
    }

    @org.junit.jupiter.api.RepeatedTest(10)
    void closeStopsAVcpuHaltedInsideTheKernel() throws Exception {
        TinyAsm a = new TinyAsm().cli().movDx(TEST_PORT).outDxAl().hlt().jmpSelf();
        TestVm t = new TestVm(a.bytes(), 1);
        CountDownLatch running = signalOnWrite(t.vm);
        t.vm.start();
        assertTrue(running.await(20, TimeUnit.SECONDS));
        assertTimeoutPreemptively(Duration.ofSeconds(10), t::close);
    }

    @Test
    void requestStopFromAnotherThreadEndsAwaitExit() throws Exception {
        TinyAsm a = new TinyAsm().movDx(TEST_PORT).outDxAl().jmpSelf();
        try (TestVm t = new TestVm(a.bytes(), 2)) {
            CountDownLatch running = signalOnWrite(t.vm);
            t.vm.start();
            assertTrue(running.await(20, TimeUnit.SECONDS));
            Thread.ofPlatform().start(() -> t.vm.requestStop(ExitStatus.hostStop("test")));
            ExitStatus status = t.vm.awaitExit(Duration.ofSeconds(10)).orElseThrow();
            assertEquals("test", status.detail());
        }
    }

    @Test
    void vcpuThreadsAreNamedAfterTheirIds() throws Exception {
        TinyAsm a = new TinyAsm().movDx(TEST_PORT).outDxAl().jmpSelf();
        try (TestVm t = new TestVm(a.bytes(), 2)) {
            CountDownLatch running = signalOnWrite(t.vm);
            t.vm.start();
            assertTrue(running.await(20, TimeUnit.SECONDS));
            List<String> names = Thread.getAllStackTraces().keySet().stream().map(Thread::getName).filter(n -> n.startsWith("vcpu-")).sorted().toList();
            assertTrue(names.containsAll(List.of("vcpu-0", "vcpu-1")), names.toString());
        }
    }

    /** Counts writes to TEST_PORT; its monitor lets tests wait for a count. */
    static final class Counter implements BusDevice {
        long writes;

        public synchronized long read(long offset, int size) {
            return 0;
        }

        public synchronized void write(long offset, int size, long value) {
            writes++;
            notifyAll();
        }

        synchronized long awaitAtLeast(long n) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (writes < n && System.nanoTime() < deadline) {
                wait(100);
            }
            return writes;
        }
    }

    @Test
    void pauseHoldsEveryVcpuOutsideTheGuestUntilResume() throws Exception {
        TinyAsm a = new TinyAsm();
        int loop = a.here();
        a.movDx(TEST_PORT).outDxAl().movEcx(2).decEcxJnz(loop);
        try (TestVm t = new TestVm(a.bytes(), 2)) {
            Counter c = new Counter();
            t.vm.pio().register(TEST_PORT, 1, "counter", c);
            t.vm.start();
            assertTrue(c.awaitAtLeast(100) >= 100, "the guest loops");
            t.vm.pause();
            long frozen;
            synchronized (c) {
                frozen = c.writes;
            }
            t.vm.resume();
            assertTrue(c.awaitAtLeast(frozen + 100) >= frozen + 100, "the guest runs again after resume");
        }
    }

    @Test
    void resetCpusRestartsTheGuestFromItsEntry() throws Exception {
        TinyAsm a = new TinyAsm().movDx(TEST_PORT).outDxAl().cli().hlt();
        try (TestVm t = new TestVm(a.bytes(), 2)) {
            Counter c = new Counter();
            t.vm.pio().register(TEST_PORT, 1, "counter", c);
            t.vm.start();
            assertEquals(1, c.awaitAtLeast(1), "first boot wrote once, then halted in the kernel");
            t.vm.pause();
            t.vm.resetCpusAndIrqchip();
            // vCPU ioctls wait for KVM_RUN to return, so ask while every vCPU is parked.
            assertEquals(dev.jkvm.kvm.KvmConstants.KVM_MP_STATE_INIT_RECEIVED, t.vm.vcpus().get(1).getMpState(),
                    "the AP waits for INIT-SIPI again");
            dev.jkvm.vmm.boot.X86BootCpu.enterLongMode(t.vm.vcpus().get(0), t.memory, 4 << 20, TestVm.CODE, 0);
            t.vm.resume();
            assertEquals(2, c.awaitAtLeast(2), "after the reset the guest ran from its entry again");
        }
    }
}
