package dev.jkvm.kvm;

import dev.jkvm.os.Errno;
import dev.jkvm.os.Libc;
import dev.jkvm.os.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.jkvm.kvm.KvmConstants.*;

/** The /dev/kvm system handle: version and capability checks, supported CPUID, and VM creation. */
public final class Kvm implements AutoCloseable {
    public static final Path DEVICE = Path.of("/dev/kvm");

    /** What jkvm cannot run without, with the name each has in linux/kvm.h. */
    private static final int[] REQUIRED = {
        KVM_CAP_IRQCHIP, KVM_CAP_USER_MEMORY, KVM_CAP_SET_TSS_ADDR, KVM_CAP_EXT_CPUID, KVM_CAP_MP_STATE,
        KVM_CAP_IRQ_ROUTING, KVM_CAP_IRQFD, KVM_CAP_PIT2, KVM_CAP_IOEVENTFD, KVM_CAP_SIGNAL_MSI,
        KVM_CAP_IMMEDIATE_EXIT,
    };
    private static final String[] REQUIRED_NAMES = {
        "KVM_CAP_IRQCHIP", "KVM_CAP_USER_MEMORY", "KVM_CAP_SET_TSS_ADDR", "KVM_CAP_EXT_CPUID", "KVM_CAP_MP_STATE",
        "KVM_CAP_IRQ_ROUTING", "KVM_CAP_IRQFD", "KVM_CAP_PIT2", "KVM_CAP_IOEVENTFD", "KVM_CAP_SIGNAL_MSI",
        "KVM_CAP_IMMEDIATE_EXIT",
    };

    private final int fd;
    private final int vcpuMmapSize;

    private Kvm(int fd) {
        this.fd = fd;
        this.vcpuMmapSize = Libc.ioctl("KVM_GET_VCPU_MMAP_SIZE", fd, KvmIoctl.KVM_GET_VCPU_MMAP_SIZE, 0);
    }

    /** Opens /dev/kvm and checks that it can run jkvm's machines. */
    public static Kvm open() {
        return open(DEVICE);
    }

    static Kvm open(Path device) {
        int fd;
        try {
            fd = Libc.open(device.toString(), Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        } catch (NativeException e) {
            throw new KvmUnavailableException(switch (e.errno()) {
                case Errno.ENOENT -> device + " does not exist: KVM is not available on this host "
                        + "(enable virtualization and load kvm_intel or kvm_amd)";
                case Errno.EACCES, Errno.EPERM -> "no permission to open " + device
                        + ": run as root or add your user to the group that owns it (usually 'kvm')";
                default -> "cannot open " + device + ": " + Errno.describe(e.errno());
            });
        }
        try {
            int version = Libc.ioctl("KVM_GET_API_VERSION", fd, KvmIoctl.KVM_GET_API_VERSION, 0);
            if (version != KVM_API_VERSION) {
                throw new KvmUnavailableException("KVM API version " + version + " is not supported; jkvm needs " + KVM_API_VERSION);
            }
            for (int i = 0; i < REQUIRED.length; i++) {
                if (Libc.ioctl("KVM_CHECK_EXTENSION", fd, KvmIoctl.KVM_CHECK_EXTENSION, REQUIRED[i]) <= 0) {
                    throw new KvmUnavailableException("this host's KVM lacks " + REQUIRED_NAMES[i] + ", which jkvm needs");
                }
            }
            return new Kvm(fd);
        } catch (RuntimeException e) {
            Libc.closeQuietly(fd);
            throw e;
        }
    }

    /** True on hosts whose /dev/kvm is PVM, a software hypervisor that cannot boot unmodified kernels. */
    public static boolean isPvmHost() {
        return Files.isDirectory(Path.of("/sys/module/kvm_pvm"));
    }

    /** KVM_CHECK_EXTENSION: 0 when absent, otherwise a capability-specific positive value. */
    public int checkExtension(int capability) {
        return Libc.ioctl("KVM_CHECK_EXTENSION", fd, KvmIoctl.KVM_CHECK_EXTENSION, capability);
    }

    public int vcpuMmapSize() {
        return vcpuMmapSize;
    }

    /** The most vCPUs one VM may have here. */
    public int maxVcpus() {
        int max = checkExtension(KVM_CAP_MAX_VCPUS);
        return max > 0 ? max : checkExtension(KVM_CAP_NR_VCPUS);
    }

    /** KVM_GET_SUPPORTED_CPUID, growing the buffer until the kernel stops saying E2BIG. */
    public List<CpuidEntry> supportedCpuid() {
        for (int capacity = 128; capacity <= 4096; capacity *= 2) {
            try (Arena arena = Arena.ofConfined()) {
                long entrySize = KvmStructs.CPUID_ENTRY2.byteSize();
                MemorySegment buf = arena.allocate(KvmStructs.CPUID2_HEAD.byteSize() + capacity * entrySize, 8);
                buf.set(ValueLayout.JAVA_INT, 0, capacity);
                try {
                    Libc.ioctl("KVM_GET_SUPPORTED_CPUID", fd, KvmIoctl.KVM_GET_SUPPORTED_CPUID, buf);
                } catch (NativeException e) {
                    if (e.errno() == Errno.E2BIG) {
                        continue;
                    }
                    throw e;
                }
                int n = buf.get(ValueLayout.JAVA_INT, 0);
                List<CpuidEntry> entries = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    MemorySegment e = buf.asSlice(KvmStructs.CPUID2_HEAD.byteSize() + i * entrySize, entrySize);
                    entries.add(new CpuidEntry(e.get(ValueLayout.JAVA_INT, 0), e.get(ValueLayout.JAVA_INT, 4),
                            e.get(ValueLayout.JAVA_INT, 8), e.get(ValueLayout.JAVA_INT, 12), e.get(ValueLayout.JAVA_INT, 16),
                            e.get(ValueLayout.JAVA_INT, 20), e.get(ValueLayout.JAVA_INT, 24)));
                }
                return entries;
            }
        }
        throw new NativeException("KVM_GET_SUPPORTED_CPUID", Errno.E2BIG);
    }

    public KvmVm createVm() {
        int vmFd = Libc.ioctl("KVM_CREATE_VM", fd, KvmIoctl.KVM_CREATE_VM, 0);
        return new KvmVm(this, vmFd);
    }

    @Override
    public void close() {
        Libc.closeQuietly(fd);
    }
}
