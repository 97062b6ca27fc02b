package dev.jkvm.kvm;

import dev.jkvm.os.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * A KVM VM file descriptor and the VM-wide ioctls. Interrupt ioctls may be called from any thread
 * (devices raise lines from their own I/O threads), so each one fills a struct it owns under a lock.
 */
public final class KvmVm implements AutoCloseable {
    private final Kvm kvm;
    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment irqLevel = arena.allocate(KvmStructs.IRQ_LEVEL);
    private final MemorySegment msi = arena.allocate(KvmStructs.MSI);
    private volatile boolean closed;

    KvmVm(Kvm kvm, int fd) {
        this.kvm = kvm;
        this.fd = fd;
    }

    public Kvm kvm() {
        return kvm;
    }

    public int fd() {
        return fd;
    }

    public void setUserMemoryRegion(int slot, int flags, long guestAddress, long size, long hostAddress) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment r = a.allocate(KvmStructs.USERSPACE_MEMORY_REGION);
            r.set(ValueLayout.JAVA_INT, 0, slot);
            r.set(ValueLayout.JAVA_INT, 4, flags);
            r.set(ValueLayout.JAVA_LONG, 8, guestAddress);
            r.set(ValueLayout.JAVA_LONG, 16, size);
            r.set(ValueLayout.JAVA_LONG, 24, hostAddress);
            Libc.ioctl("KVM_SET_USER_MEMORY_REGION", fd, KvmIoctl.KVM_SET_USER_MEMORY_REGION, r);
        }
    }

    /** The three pages VMX needs for real-mode emulation; must lie outside RAM and MMIO. */
    public void setTssAddress(long address) {
        Libc.ioctl("KVM_SET_TSS_ADDR", fd, KvmIoctl.KVM_SET_TSS_ADDR, address);
    }

    /** The page VMX uses for its identity map in unrestricted-guest-less real mode. */
    public void setIdentityMapAddress(long address) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.JAVA_LONG);
            p.set(ValueLayout.JAVA_LONG, 0, address);
            Libc.ioctl("KVM_SET_IDENTITY_MAP_ADDR", fd, KvmIoctl.KVM_SET_IDENTITY_MAP_ADDR, p);
        }
    }

    /** The in-kernel PIC pair, IOAPIC and per-vCPU LAPICs, with KVM's default GSI routing. */
    public void createIrqchip() {
        Libc.ioctl("KVM_CREATE_IRQCHIP", fd, KvmIoctl.KVM_CREATE_IRQCHIP, 0);
    }

    /** The in-kernel i8254 PIT; QEMU passes KVM_PIT_SPEAKER_DUMMY so port 0x61 reads work. */
    public void createPit2(int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(KvmStructs.PIT_CONFIG);
            c.set(ValueLayout.JAVA_INT, 0, flags);
            Libc.ioctl("KVM_CREATE_PIT2", fd, KvmIoctl.KVM_CREATE_PIT2, c);
        }
    }

    public static final int IRQCHIP_PIC_MASTER = 0;
    public static final int IRQCHIP_PIC_SLAVE = 1;
    public static final int IRQCHIP_IOAPIC = 2;

    /** The state of one in-kernel interrupt controller (a PIC or the IOAPIC), as KVM_GET_IRQCHIP returns it. */
    public byte[] getIrqchip(int chip) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.IRQCHIP);
            s.set(ValueLayout.JAVA_INT, 0, chip);
            Libc.ioctl("KVM_GET_IRQCHIP", fd, KvmIoctl.KVM_GET_IRQCHIP, s);
            return s.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    public void setIrqchip(byte[] state) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.IRQCHIP);
            s.copyFrom(MemorySegment.ofArray(state));
            Libc.ioctl("KVM_SET_IRQCHIP", fd, KvmIoctl.KVM_SET_IRQCHIP, s);
        }
    }

    /** The in-kernel PIT's state. */
    public byte[] getPit2() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.PIT_STATE2);
            Libc.ioctl("KVM_GET_PIT2", fd, KvmIoctl.KVM_GET_PIT2, s);
            return s.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    public void setPit2(byte[] state) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.PIT_STATE2);
            s.copyFrom(MemorySegment.ofArray(state));
            Libc.ioctl("KVM_SET_PIT2", fd, KvmIoctl.KVM_SET_PIT2, s);
        }
    }

    /** Drives an irqchip input (a GSI) to a level. */
    public void irqLine(int gsi, boolean level) {
        synchronized (irqLevel) {
            if (closed) {
                return;
            }
            irqLevel.set(ValueLayout.JAVA_INT, 0, gsi);
            irqLevel.set(ValueLayout.JAVA_INT, 4, level ? 1 : 0);
            Libc.ioctl("KVM_IRQ_LINE", fd, KvmIoctl.KVM_IRQ_LINE, irqLevel);
        }
    }

    /** Injects one MSI; returns KVM's answer (positive: delivered, 0: blocked by the guest). */
    public int signalMsi(long address, int data) {
        synchronized (msi) {
            if (closed) {
                return 0;
            }
            msi.fill((byte) 0);
            msi.set(ValueLayout.JAVA_INT, 0, (int) address);
            msi.set(ValueLayout.JAVA_INT, 4, (int) (address >>> 32));
            msi.set(ValueLayout.JAVA_INT, 8, data);
            return Libc.ioctl("KVM_SIGNAL_MSI", fd, KvmIoctl.KVM_SIGNAL_MSI, msi);
        }
    }

    /** One GSI routing entry: an irqchip pin or an MSI message. */
    public sealed interface GsiRoute permits IrqchipRoute, MsiRoute {
        int gsi();
    }

    /** irqchip 0/1 are the PICs, 2 the IOAPIC. */
    public record IrqchipRoute(int gsi, int irqchip, int pin) implements GsiRoute {
    }

    public record MsiRoute(int gsi, long address, int data) implements GsiRoute {
    }

    /** Replaces the whole GSI routing table (KVM has no per-entry update). */
    public void setGsiRouting(List<? extends GsiRoute> routes) {
        long entrySize = KvmStructs.IRQ_ROUTING_ENTRY.byteSize();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(KvmStructs.IRQ_ROUTING_HEAD.byteSize() + routes.size() * entrySize, 8);
            buf.set(ValueLayout.JAVA_INT, 0, routes.size());
            for (int i = 0; i < routes.size(); i++) {
                MemorySegment e = buf.asSlice(KvmStructs.IRQ_ROUTING_HEAD.byteSize() + i * entrySize, entrySize);
                GsiRoute r = routes.get(i);
                e.set(ValueLayout.JAVA_INT, 0, r.gsi());
                switch (r) {
                    case IrqchipRoute c -> {
                        e.set(ValueLayout.JAVA_INT, 4, KvmConstants.KVM_IRQ_ROUTING_IRQCHIP);
                        e.set(ValueLayout.JAVA_INT, 16, c.irqchip());
                        e.set(ValueLayout.JAVA_INT, 20, c.pin());
                    }
                    case MsiRoute m -> {
                        e.set(ValueLayout.JAVA_INT, 4, KvmConstants.KVM_IRQ_ROUTING_MSI);
                        e.set(ValueLayout.JAVA_INT, 16, (int) m.address());
                        e.set(ValueLayout.JAVA_INT, 20, (int) (m.address() >>> 32));
                        e.set(ValueLayout.JAVA_INT, 24, m.data());
                    }
                }
            }
            Libc.ioctl("KVM_SET_GSI_ROUTING", fd, KvmIoctl.KVM_SET_GSI_ROUTING, buf);
        }
    }

    /** Binds (or, with assign false, unbinds) an eventfd so that a write to it raises the GSI. */
    public void irqfd(int eventFd, int gsi, boolean assign) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.IRQFD);
            s.set(ValueLayout.JAVA_INT, 0, eventFd);
            s.set(ValueLayout.JAVA_INT, 4, gsi);
            s.set(ValueLayout.JAVA_INT, 8, assign ? 0 : KvmConstants.KVM_IRQFD_FLAG_DEASSIGN);
            Libc.ioctl("KVM_IRQFD", fd, KvmIoctl.KVM_IRQFD, s);
        }
    }

    /**
     * Binds (or unbinds) an eventfd that KVM signals, without leaving the kernel, when the guest
     * writes {@code length} bytes at {@code address}; {@code dataMatch} null matches any value.
     */
    public void ioeventfd(int eventFd, long address, int length, boolean pio, Long dataMatch, boolean assign) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.IOEVENTFD);
            int flags = (pio ? KvmConstants.KVM_IOEVENTFD_FLAG_PIO : 0)
                    | (dataMatch != null ? KvmConstants.KVM_IOEVENTFD_FLAG_DATAMATCH : 0)
                    | (assign ? 0 : KvmConstants.KVM_IOEVENTFD_FLAG_DEASSIGN);
            s.set(ValueLayout.JAVA_LONG, 0, dataMatch == null ? 0 : dataMatch);
            s.set(ValueLayout.JAVA_LONG, 8, address);
            s.set(ValueLayout.JAVA_INT, 16, length);
            s.set(ValueLayout.JAVA_INT, 20, eventFd);
            s.set(ValueLayout.JAVA_INT, 24, flags);
            Libc.ioctl("KVM_IOEVENTFD", fd, KvmIoctl.KVM_IOEVENTFD, s);
        }
    }

    /** Copies and clears KVM's dirty bitmap for a slot that was registered with KVM_MEM_LOG_DIRTY_PAGES. */
    public void getDirtyLog(int slot, MemorySegment bitmap) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.DIRTY_LOG);
            s.set(ValueLayout.JAVA_INT, 0, slot);
            s.set(ValueLayout.JAVA_LONG, 8, bitmap.address());
            Libc.ioctl("KVM_GET_DIRTY_LOG", fd, KvmIoctl.KVM_GET_DIRTY_LOG, s);
        }
    }

    public KvmVcpu createVcpu(int id) {
        int vcpuFd = Libc.ioctl("KVM_CREATE_VCPU", fd, KvmIoctl.KVM_CREATE_VCPU, id);
        try {
            return new KvmVcpu(id, vcpuFd, kvm.vcpuMmapSize());
        } catch (RuntimeException e) {
            Libc.closeQuietly(vcpuFd);
            throw e;
        }
    }

    @Override
    public void close() {
        synchronized (irqLevel) {
            synchronized (msi) {
                if (closed) {
                    return;
                }
                closed = true;
            }
        }
        Libc.closeQuietly(fd);
        arena.close();
    }
}
