package dev.jkvm.devices.virtio.queue;

import dev.jkvm.devices.virtio.DriverRing;
import dev.jkvm.devices.virtio.TestGuest;
import org.junit.jupiter.api.Test;

import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;

import static dev.jkvm.devices.virtio.TestGuest.MiB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * EVENT_IDX kick suppression is a Dekker handshake: the device stores avail_event and then loads
 * avail->idx; the driver stores avail->idx, fences, and loads avail_event to decide whether to
 * kick (virtqueue_kick_prepare). Unless the device also fences between its store and its load,
 * both can read the other's old value: the device finds the ring empty and would go to sleep,
 * while the driver decides that no kick is needed. The request is then never served.
 *
 * <p>A driver thread and a device thread race here through many requests; the device pops
 * everything available before using any (as a batching device does), so no lock of the queue
 * hides a missing fence between the last pop that found a chain and the one that found none. Each time the device finds the ring empty after request p-1, the driver
 * must kick for request p: avail_event was p by then. A recorded "no kick" for that request is
 * a lost wake-up, detected without any timing.
 */
class SplitVirtqueueKickRaceTest {
    private static final int SIZE = 8;
    private static final int REQUESTS = 2_000_000;
    private static final long BUDGET_NANOS = TimeUnit.SECONDS.toNanos(3);
    private static final int KICK = 1;
    private static final int NO_KICK = 2;

    @Test
    void noKickIsLostWithEventIdx() throws Exception {
        try (TestGuest guest = new TestGuest(4 * MiB)) {
            DriverRing ring = new DriverRing(guest.mem, SIZE, 0x10000);
            SplitVirtqueue queue = new SplitVirtqueue(guest.mem, SIZE);
            ring.enable(queue, true);
            for (int i = 0; i < SIZE; i++) {
                ring.writeDesc(i, 0x100000 + 16L * i, 16, 0, 0);
            }
            AtomicIntegerArray decision = new AtomicIntegerArray(REQUESTS);
            AtomicReference<String> lost = new AtomicReference<>();
            int[] sent = {0};
            long deadline = System.nanoTime() + BUDGET_NANOS;

            Thread driver = Thread.ofPlatform().name("race-driver").start(() -> {
                int used = 0;
                for (int i = 0; i < REQUESTS && lost.get() == null && System.nanoTime() - deadline < 0; i++) {
                    while (((ring.availIdx() - (used = ring.usedIdx())) & 0xffff) >= SIZE) {
                        if (lost.get() != null) {
                            return;
                        }
                        Thread.onSpinWait();
                    }
                    int old = ring.availIdx();
                    ring.putAvail(old % SIZE);
                    ring.setAvailIdx(old + 1);
                    VarHandle.fullFence();
                    int event = ring.availEvent();
                    int next = (old + 1) & 0xffff;
                    boolean kick = ((next - event - 1) & 0xffff) < ((next - old) & 0xffff);
                    decision.set(i, kick ? KICK : NO_KICK);
                    sent[0] = i + 1;
                }
            });
            Thread device = Thread.ofPlatform().name("race-device").start(() -> {
                int popped = 0;
                int[] heads = new int[SIZE];
                try {
                    while (true) {
                        int n = 0;
                        DescriptorChain c;
                        while ((c = queue.pop()) != null) {
                            heads[n++] = c.head();
                        }
                        popped += n;
                        for (int i = 0; i < n; i++) {
                            queue.addUsed(heads[i], 0);
                        }
                        // Found empty after request popped-1: the driver must kick for request `popped`.
                        if (popped < REQUESTS) {
                            int d;
                            while ((d = decision.get(popped)) == 0 && driver.isAlive()) {
                                Thread.onSpinWait();
                            }
                            if (d == 0) {
                                d = decision.get(popped);
                            }
                            if (d == NO_KICK) {
                                lost.set("the device found the ring empty after request " + (popped - 1)
                                        + " but the driver saw no need to kick for request " + popped);
                                return;
                            }
                        }
                        if (!driver.isAlive() && !queue.hasAvailable()) {
                            return;
                        }
                    }
                } catch (VirtqueueViolation e) {
                    lost.set(e.toString());
                }
            });
            driver.join();
            device.join();
            assertNull(lost.get(), () -> lost.get() + " (" + sent[0] + " requests sent)");
            assertEquals(sent[0] & 0xffff, queue.usedIndex());
        }
    }
}
