package dev.jkvm.kvm;

/** Non-ioctl constants from linux/kvm.h: capabilities, exit reasons, flags. */
public final class KvmConstants {
    private KvmConstants() {
    }

    public static final int KVM_API_VERSION = 12;

    // capabilities (KVM_CHECK_EXTENSION)
    public static final int KVM_CAP_IRQCHIP = 0;
    public static final int KVM_CAP_HLT = 1;
    public static final int KVM_CAP_USER_MEMORY = 3;
    public static final int KVM_CAP_SET_TSS_ADDR = 4;
    public static final int KVM_CAP_EXT_CPUID = 7;
    public static final int KVM_CAP_NR_VCPUS = 9;
    public static final int KVM_CAP_NR_MEMSLOTS = 10;
    public static final int KVM_CAP_MP_STATE = 14;
    public static final int KVM_CAP_IRQ_ROUTING = 25;
    public static final int KVM_CAP_IRQFD = 32;
    public static final int KVM_CAP_PIT2 = 33;
    public static final int KVM_CAP_IOEVENTFD = 36;
    public static final int KVM_CAP_SET_IDENTITY_MAP_ADDR = 37;
    public static final int KVM_CAP_MAX_VCPUS = 66;
    public static final int KVM_CAP_SIGNAL_MSI = 77;
    public static final int KVM_CAP_READONLY_MEM = 81;
    public static final int KVM_CAP_IMMEDIATE_EXIT = 136;

    // exit reasons
    public static final int KVM_EXIT_UNKNOWN = 0;
    public static final int KVM_EXIT_EXCEPTION = 1;
    public static final int KVM_EXIT_IO = 2;
    public static final int KVM_EXIT_HYPERCALL = 3;
    public static final int KVM_EXIT_DEBUG = 4;
    public static final int KVM_EXIT_HLT = 5;
    public static final int KVM_EXIT_MMIO = 6;
    public static final int KVM_EXIT_IRQ_WINDOW_OPEN = 7;
    public static final int KVM_EXIT_SHUTDOWN = 8;
    public static final int KVM_EXIT_FAIL_ENTRY = 9;
    public static final int KVM_EXIT_INTR = 10;
    public static final int KVM_EXIT_NMI = 16;
    public static final int KVM_EXIT_INTERNAL_ERROR = 17;
    public static final int KVM_EXIT_SYSTEM_EVENT = 24;

    public static final int KVM_EXIT_IO_IN = 0;
    public static final int KVM_EXIT_IO_OUT = 1;

    public static final int KVM_SYSTEM_EVENT_SHUTDOWN = 1;
    public static final int KVM_SYSTEM_EVENT_RESET = 2;
    public static final int KVM_SYSTEM_EVENT_CRASH = 3;

    public static final int KVM_INTERNAL_ERROR_EMULATION = 1;
    public static final int KVM_INTERNAL_ERROR_SIMUL_EX = 2;
    public static final int KVM_INTERNAL_ERROR_DELIVERY_EV = 3;

    public static final int KVM_MEM_LOG_DIRTY_PAGES = 1;
    public static final int KVM_MEM_READONLY = 2;

    public static final int KVM_PIT_SPEAKER_DUMMY = 1;

    public static final int KVM_IOEVENTFD_FLAG_DATAMATCH = 1;
    public static final int KVM_IOEVENTFD_FLAG_PIO = 2;
    public static final int KVM_IOEVENTFD_FLAG_DEASSIGN = 4;
    public static final int KVM_IRQFD_FLAG_DEASSIGN = 1;
    public static final int KVM_IRQFD_FLAG_RESAMPLE = 2;
    public static final int KVM_IRQ_ROUTING_IRQCHIP = 1;
    public static final int KVM_IRQ_ROUTING_MSI = 2;

    public static final int KVM_MP_STATE_RUNNABLE = 0;
    public static final int KVM_MP_STATE_UNINITIALIZED = 1;
    public static final int KVM_MP_STATE_INIT_RECEIVED = 2;
    public static final int KVM_MP_STATE_HALTED = 3;
    public static final int KVM_MP_STATE_SIPI_RECEIVED = 4;

    /** A name for an exit reason, for messages. */
    public static String exitReasonName(int reason) {
        return switch (reason) {
            case KVM_EXIT_UNKNOWN -> "UNKNOWN";
            case KVM_EXIT_EXCEPTION -> "EXCEPTION";
            case KVM_EXIT_IO -> "IO";
            case KVM_EXIT_HYPERCALL -> "HYPERCALL";
            case KVM_EXIT_DEBUG -> "DEBUG";
            case KVM_EXIT_HLT -> "HLT";
            case KVM_EXIT_MMIO -> "MMIO";
            case KVM_EXIT_IRQ_WINDOW_OPEN -> "IRQ_WINDOW_OPEN";
            case KVM_EXIT_SHUTDOWN -> "SHUTDOWN";
            case KVM_EXIT_FAIL_ENTRY -> "FAIL_ENTRY";
            case KVM_EXIT_INTR -> "INTR";
            case KVM_EXIT_NMI -> "NMI";
            case KVM_EXIT_INTERNAL_ERROR -> "INTERNAL_ERROR";
            case KVM_EXIT_SYSTEM_EVENT -> "SYSTEM_EVENT";
            default -> "exit reason " + reason;
        };
    }
}
