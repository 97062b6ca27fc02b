package dev.jkvm.vmm;

import dev.jkvm.kvm.KvmIoctl;
import dev.jkvm.kvm.KvmStructs;
import dev.jkvm.kvm.KvmVcpu;
import dev.jkvm.os.Errno;
import dev.jkvm.os.Libc;
import dev.jkvm.os.NativeException;
import dev.jkvm.vmm.cpu.RegisterDump;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.jkvm.kvm.KvmConstants.KVM_EXIT_FAIL_ENTRY;
import static dev.jkvm.kvm.KvmConstants.KVM_EXIT_INTERNAL_ERROR;
import static dev.jkvm.kvm.KvmConstants.KVM_EXIT_INTR;
import static dev.jkvm.kvm.KvmConstants.KVM_EXIT_IO;
import static dev.jkvm.kvm.KvmConstants.KVM_EXIT_IO_OUT;
import static dev.jkvm.kvm.KvmConstants.KVM_EXIT_MMIO;
import static dev.jkvm.kvm.KvmConstants.KVM_EXIT_SHUTDOWN;
import static dev.jkvm.kvm.KvmConstants.KVM_EXIT_SYSTEM_EVENT;

/**
 * The body of one vCPU thread: KVM_RUN, dispatch the exit, repeat. This loop is the hot path, so
 * it allocates nothing, logs nothing and reads kvm_run through precomputed offsets.
 *
 * <p>Stopping: another thread sets immediate_exit and sends {@link #KICK_SIGNAL} to this thread.
 * The signal is blocked here except inside KVM_RUN (KVM_SET_SIGNAL_MASK), so it either interrupts
 * KVM_RUN or stays pending and makes the next KVM_RUN return EINTR at once. Its disposition is
 * SIG_IGN, so no handler ever runs and a stray delivery is harmless.
 */
final class VcpuRunner implements Runnable {
    /** SIGRTMIN+3: real-time, unused by the JVM, and never delivered because it stays blocked. */
    static final int KICK_SIGNAL = Libc.SIGRTMIN + 3;

    static {
        // On PVM hosts a kick that lands while the vCPU sleeps in an in-kernel HLT is sometimes
        // delivered rather than left pending; with the default action that would end the process.
        Libc.ignoreSignal(KICK_SIGNAL);
    }

    private static final ValueLayout.OfByte U8 = ValueLayout.JAVA_BYTE;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;

    private final Vm vm;
    private final KvmVcpu vcpu;
    private final MemorySegment run;
    private final int vcpuFd;
    private final DeviceBus pio;
    private final DeviceBus mmio;
    private final long runSize;
    private int tid;
    private boolean finished;
    private final java.util.BitSet affinity;
    private long exits;

    VcpuRunner(Vm vm, KvmVcpu vcpu, java.util.BitSet affinity) {
        this.vm = vm;
        this.vcpu = vcpu;
        this.affinity = affinity;
        this.run = vcpu.run();
        this.runSize = run.byteSize();
        this.vcpuFd = vcpu.fd();
        this.pio = vm.pio();
        this.mmio = vm.mmio();
    }

    /** Makes this vCPU leave KVM_RUN soon; safe from any thread, before, during or after the run. */
    synchronized void kick() {
        if (finished) {
            return;
        }
        run.set(U8, KvmStructs.RUN_IMMEDIATE_EXIT, (byte) 1);
        if (tid != 0) {
            // The tid is only valid until the thread clears it (in finish()), which also holds this lock,
            // so the signal can never reach a recycled tid.
            Libc.tgkill(Libc.getpid(), tid, KICK_SIGNAL);
        }
    }

    private synchronized void started(int threadId) {
        this.tid = threadId;
    }

    private synchronized void finish() {
        finished = true;
        tid = 0;
    }

    long exits() {
        return exits;
    }

    @Override
    public void run() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment callState = Libc.allocateCallState(arena);
            if (affinity != null) {
                pin(arena);
            }
            MemorySegment kickSet = Libc.sigset(arena, KICK_SIGNAL);
            MemorySegment zeroTimeout = arena.allocate(16, 8);
            Libc.pthreadSigmask(Libc.SIG_BLOCK, kickSet, MemorySegment.NULL);
            MemorySegment current = arena.allocate(Libc.GLIBC_SIGSET_BYTES, 8);
            Libc.pthreadSigmask(Libc.SIG_BLOCK, MemorySegment.NULL, current);
            long inRun = current.get(ValueLayout.JAVA_LONG, 0) & ~(1L << (KICK_SIGNAL - 1));
            vcpu.setSignalMask(inRun);
            started(Libc.gettid());
            loop(callState, kickSet, zeroTimeout);
        } catch (Throwable t) {
            vm.fail("vcpu " + vcpu.id() + " thread failed: " + t, t);
        } finally {
            finish();
        }
    }

    /** Restricts this vCPU thread to its host CPUs (the -vcpu-pin option). */
    private void pin(Arena arena) {
        long[] words = affinity.toLongArray();
        MemorySegment mask = arena.allocate(Math.max(8, words.length * 8L), 8);
        for (int i = 0; i < words.length; i++) {
            mask.set(ValueLayout.JAVA_LONG, i * 8L, words[i]);
        }
        Libc.schedSetaffinity(0, mask);
    }

    private void loop(MemorySegment callState, MemorySegment kickSet, MemorySegment zeroTimeout) {
        while (!vm.stopRequested()) {
            int r = Libc.ioctlRaw(callState, vcpuFd, KvmIoctl.KVM_RUN, 0L);
            if (r < 0) {
                int errno = Libc.errno(callState);
                if (errno == Errno.EINTR || errno == Errno.EAGAIN) {
                    run.set(U8, KvmStructs.RUN_IMMEDIATE_EXIT, (byte) 0);
                    while (Libc.sigtimedwaitRaw(callState, kickSet, zeroTimeout) > 0) {
                        // drain every pending kick so that the next KVM_RUN does not return at once
                    }
                    // A pause (for a reset) kicks every vCPU out of KVM_RUN; wait here, outside the kernel.
                    vm.parkIfPaused();
                    continue;
                }
                vm.fail("vcpu " + vcpu.id() + ": " + new NativeException("KVM_RUN", errno).getMessage()
                        + "\n" + RegisterDump.of(vcpu), null);
                return;
            }
            exits++;
            int reason = run.get(U32, KvmStructs.RUN_EXIT_REASON);
            if (reason == KVM_EXIT_IO) {
                handleIo();
            } else if (reason == KVM_EXIT_MMIO) {
                handleMmio();
            } else if (reason != KVM_EXIT_INTR) {
                handleRare(reason);
            }
        }
    }

    private void handleIo() {
        int direction = run.get(U8, KvmStructs.RUN_IO_DIRECTION);
        int size = run.get(U8, KvmStructs.RUN_IO_SIZE);
        int port = Short.toUnsignedInt(run.get(U16, KvmStructs.RUN_IO_PORT));
        int count = run.get(U32, KvmStructs.RUN_IO_COUNT);
        long offset = run.get(U64, KvmStructs.RUN_IO_DATA_OFFSET);
        if (size != 1 && size != 2 && size != 4 || count < 0 || offset < 0 || offset > runSize
                || (long) count * size > runSize - offset) {
            vm.fail("vcpu " + vcpu.id() + ": malformed I/O exit from KVM (port 0x" + Integer.toHexString(port)
                    + " size " + size + " count " + count + ")", null);
            return;
        }
        // String I/O (rep ins/outs) arrives as one exit with count elements laid out back to back.
        if (direction == KVM_EXIT_IO_OUT) {
            for (int i = 0; i < count; i++, offset += size) {
                pio.write(port, size, load(offset, size));
            }
        } else {
            for (int i = 0; i < count; i++, offset += size) {
                store(offset, size, pio.read(port, size));
            }
        }
    }

    private void handleMmio() {
        long address = run.get(U64, KvmStructs.RUN_MMIO_PHYS_ADDR);
        int length = run.get(U32, KvmStructs.RUN_MMIO_LEN);
        if (length < 1 || length > 8) {
            vm.fail("vcpu " + vcpu.id() + ": malformed MMIO exit from KVM (length " + length + ")", null);
            return;
        }
        if (run.get(U8, KvmStructs.RUN_MMIO_IS_WRITE) != 0) {
            mmio.write(address, length, load(KvmStructs.RUN_MMIO_DATA, length));
        } else {
            store(KvmStructs.RUN_MMIO_DATA, length, mmio.read(address, length));
        }
    }

    private long load(long offset, int size) {
        return switch (size) {
            case 1 -> Byte.toUnsignedLong(run.get(U8, offset));
            case 2 -> Short.toUnsignedLong(run.get(U16, offset));
            case 4 -> Integer.toUnsignedLong(run.get(U32, offset));
            case 8 -> run.get(U64, offset);
            default -> {
                long v = 0;
                for (int i = 0; i < size; i++) {
                    v |= Byte.toUnsignedLong(run.get(U8, offset + i)) << (8 * i);
                }
                yield v;
            }
        };
    }

    private void store(long offset, int size, long value) {
        switch (size) {
            case 1 -> run.set(U8, offset, (byte) value);
            case 2 -> run.set(U16, offset, (short) value);
            case 4 -> run.set(U32, offset, (int) value);
            case 8 -> run.set(U64, offset, value);
            default -> {
                for (int i = 0; i < size; i++) {
                    run.set(U8, offset + i, (byte) (value >>> (8 * i)));
                }
            }
        }
    }

    private void handleRare(int reason) {
        VcpuExit exit = switch (reason) {
            case KVM_EXIT_SHUTDOWN -> new VcpuExit.Shutdown();
            case KVM_EXIT_SYSTEM_EVENT -> new VcpuExit.SystemEvent(run.get(U32, KvmStructs.RUN_SYSTEM_EVENT_TYPE),
                    longs(KvmStructs.RUN_SYSTEM_EVENT_DATA, run.get(U32, KvmStructs.RUN_SYSTEM_EVENT_NDATA)));
            case KVM_EXIT_FAIL_ENTRY -> new VcpuExit.FailEntry(run.get(U64, KvmStructs.RUN_FAIL_ENTRY_REASON),
                    run.get(U32, KvmStructs.RUN_FAIL_ENTRY_CPU));
            case KVM_EXIT_INTERNAL_ERROR -> new VcpuExit.InternalError(run.get(U32, KvmStructs.RUN_INTERNAL_SUBERROR),
                    longs(KvmStructs.RUN_INTERNAL_DATA, run.get(U32, KvmStructs.RUN_INTERNAL_NDATA)));
            default -> new VcpuExit.Unexpected(reason);
        };
        vm.onVcpuExit(vcpu, exit);
    }

    private long[] longs(long offset, int n) {
        int count = Math.max(0, Math.min(n, 16));
        long[] out = new long[count];
        for (int i = 0; i < count; i++) {
            out[i] = run.get(U64, offset + i * 8L);
        }
        return out;
    }
}
