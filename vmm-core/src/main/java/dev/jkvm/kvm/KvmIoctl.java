package dev.jkvm.kvm;

/**
 * KVM ioctl request numbers, encoded the way linux/ioctl.h does so that each one reads like its
 * definition in linux/kvm.h. KvmAbiTest checks every number against the header.
 */
public final class KvmIoctl {
    private static final int KVMIO = 0xAE;
    private static final int NONE = 0;
    private static final int WRITE = 1;
    private static final int READ = 2;

    private KvmIoctl() {
    }

    private static long ioc(int dir, int nr, long size) {
        return ((long) dir << 30) | (size << 16) | ((long) KVMIO << 8) | nr;
    }

    private static long io(int nr) {
        return ioc(NONE, nr, 0);
    }

    private static long ior(int nr, long size) {
        return ioc(READ, nr, size);
    }

    private static long iow(int nr, long size) {
        return ioc(WRITE, nr, size);
    }

    private static long iowr(int nr, long size) {
        return ioc(READ | WRITE, nr, size);
    }

    // system ioctls
    public static final long KVM_GET_API_VERSION = io(0x00);
    public static final long KVM_CREATE_VM = io(0x01);
    public static final long KVM_GET_MSR_INDEX_LIST = iowr(0x02, 4);
    public static final long KVM_CHECK_EXTENSION = io(0x03);
    public static final long KVM_GET_VCPU_MMAP_SIZE = io(0x04);
    public static final long KVM_GET_SUPPORTED_CPUID = iowr(0x05, 8);

    // vm ioctls
    public static final long KVM_CREATE_VCPU = io(0x41);
    public static final long KVM_GET_DIRTY_LOG = iow(0x42, 16);
    public static final long KVM_SET_USER_MEMORY_REGION = iow(0x46, 32);
    public static final long KVM_SET_TSS_ADDR = io(0x47);
    public static final long KVM_SET_IDENTITY_MAP_ADDR = iow(0x48, 8);
    public static final long KVM_CREATE_IRQCHIP = io(0x60);
    public static final long KVM_IRQ_LINE = iow(0x61, 8);
    public static final long KVM_GET_IRQCHIP = iowr(0x62, 520);
    // The header really declares SET_IRQCHIP as _IOR.
    public static final long KVM_SET_IRQCHIP = ior(0x63, 520);
    public static final long KVM_GET_PIT2 = ior(0x9f, 112);
    public static final long KVM_SET_PIT2 = iow(0xa0, 112);
    public static final long KVM_SET_GSI_ROUTING = iow(0x6a, 8);
    public static final long KVM_IRQFD = iow(0x76, 32);
    public static final long KVM_CREATE_PIT2 = iow(0x77, 64);
    public static final long KVM_SET_BOOT_CPU_ID = io(0x78);
    public static final long KVM_IOEVENTFD = iow(0x79, 64);
    public static final long KVM_SIGNAL_MSI = iow(0xa5, 32);
    public static final long KVM_ENABLE_CAP = iow(0xa3, 104);
    public static final long KVM_GET_TSC_KHZ = io(0xa3);

    // vcpu ioctls
    public static final long KVM_RUN = io(0x80);
    public static final long KVM_GET_REGS = ior(0x81, 144);
    public static final long KVM_SET_REGS = iow(0x82, 144);
    public static final long KVM_GET_SREGS = ior(0x83, 312);
    public static final long KVM_SET_SREGS = iow(0x84, 312);
    public static final long KVM_GET_MSRS = iowr(0x88, 8);
    public static final long KVM_SET_MSRS = iow(0x89, 8);
    public static final long KVM_SET_SIGNAL_MASK = iow(0x8b, 4);
    public static final long KVM_GET_FPU = ior(0x8c, 416);
    public static final long KVM_SET_FPU = iow(0x8d, 416);
    public static final long KVM_GET_LAPIC = ior(0x8e, 1024);
    public static final long KVM_SET_LAPIC = iow(0x8f, 1024);
    public static final long KVM_SET_CPUID2 = iow(0x90, 8);
    public static final long KVM_GET_MP_STATE = ior(0x98, 4);
    public static final long KVM_SET_MP_STATE = iow(0x99, 4);

    /** Names for error messages: "KVM_SET_SREGS: EINVAL (...)". */
    public static String name(long request) {
        for (var f : KvmIoctl.class.getFields()) {
            try {
                if (f.getType() == long.class && f.getLong(null) == request) {
                    return f.getName();
                }
            } catch (IllegalAccessException e) {
                throw new AssertionError(e);
            }
        }
        return String.format("ioctl 0x%x", request);
    }
}
