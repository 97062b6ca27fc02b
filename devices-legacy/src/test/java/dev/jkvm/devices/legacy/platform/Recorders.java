package dev.jkvm.devices.legacy.platform;

import dev.jkvm.vmm.device.InterruptLine;
import dev.jkvm.vmm.device.VmControl;

import java.util.ArrayList;
import java.util.List;

/** Test doubles: an interrupt line and a VM that remember what devices did to them. */
final class Recorders {
    private Recorders() {
    }

    static final class Line implements InterruptLine {
        final List<Boolean> levels = new ArrayList<>();

        @Override
        public synchronized void set(boolean level) {
            levels.add(level);
        }

        synchronized boolean high() {
            return !levels.isEmpty() && levels.get(levels.size() - 1);
        }

        /** Rising edges seen so far. */
        synchronized int edges() {
            int n = 0;
            boolean last = false;
            for (boolean l : levels) {
                if (l && !last) {
                    n++;
                }
                last = l;
            }
            return n;
        }
    }

    static final class Vm implements VmControl {
        final List<String> resets = new ArrayList<>();
        final List<String> powerOffs = new ArrayList<>();

        @Override
        public void debugExit(long value) {
            throw new AssertionError("debug exit");
        }

        @Override
        public synchronized void powerOff(String detail) {
            powerOffs.add(detail);
        }

        @Override
        public synchronized void reset(String detail) {
            resets.add(detail);
        }
    }

    /** A settable clock in nanoseconds. */
    static final class Clock {
        long now;

        Clock(long now) {
            this.now = now;
        }

        long get() {
            return now;
        }

        void advance(long nanos) {
            now += nanos;
        }
    }
}
