package dev.jkvm.kvm;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.UnionLayout;

import static java.lang.foreign.MemoryLayout.paddingLayout;
import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.MemoryLayout.unionLayout;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * The linux/kvm.h structs jkvm passes to ioctls, field for field. KvmAbiTest compiles a C program
 * against the host header and checks every size and offset here against it.
 */
public final class KvmStructs {
    private KvmStructs() {
    }

    private static long offset(MemoryLayout layout, String... path) {
        MemoryLayout.PathElement[] elements = new MemoryLayout.PathElement[path.length];
        for (int i = 0; i < path.length; i++) {
            elements[i] = MemoryLayout.PathElement.groupElement(path[i]);
        }
        return layout.byteOffset(elements);
    }

    public static final StructLayout USERSPACE_MEMORY_REGION = structLayout(
            JAVA_INT.withName("slot"),
            JAVA_INT.withName("flags"),
            JAVA_LONG.withName("guest_phys_addr"),
            JAVA_LONG.withName("memory_size"),
            JAVA_LONG.withName("userspace_addr")).withName("kvm_userspace_memory_region");

    public static final StructLayout REGS = structLayout(
            JAVA_LONG.withName("rax"), JAVA_LONG.withName("rbx"), JAVA_LONG.withName("rcx"), JAVA_LONG.withName("rdx"),
            JAVA_LONG.withName("rsi"), JAVA_LONG.withName("rdi"), JAVA_LONG.withName("rsp"), JAVA_LONG.withName("rbp"),
            JAVA_LONG.withName("r8"), JAVA_LONG.withName("r9"), JAVA_LONG.withName("r10"), JAVA_LONG.withName("r11"),
            JAVA_LONG.withName("r12"), JAVA_LONG.withName("r13"), JAVA_LONG.withName("r14"), JAVA_LONG.withName("r15"),
            JAVA_LONG.withName("rip"), JAVA_LONG.withName("rflags")).withName("kvm_regs");

    public static final StructLayout SEGMENT = structLayout(
            JAVA_LONG.withName("base"),
            JAVA_INT.withName("limit"),
            JAVA_SHORT.withName("selector"),
            JAVA_BYTE.withName("type"),
            JAVA_BYTE.withName("present"),
            JAVA_BYTE.withName("dpl"),
            JAVA_BYTE.withName("db"),
            JAVA_BYTE.withName("s"),
            JAVA_BYTE.withName("l"),
            JAVA_BYTE.withName("g"),
            JAVA_BYTE.withName("avl"),
            JAVA_BYTE.withName("unusable"),
            JAVA_BYTE.withName("padding")).withName("kvm_segment");

    public static final StructLayout DTABLE = structLayout(
            JAVA_LONG.withName("base"),
            JAVA_SHORT.withName("limit"),
            sequenceLayout(3, JAVA_SHORT).withName("padding")).withName("kvm_dtable");

    public static final StructLayout SREGS = structLayout(
            SEGMENT.withName("cs"), SEGMENT.withName("ds"), SEGMENT.withName("es"), SEGMENT.withName("fs"),
            SEGMENT.withName("gs"), SEGMENT.withName("ss"), SEGMENT.withName("tr"), SEGMENT.withName("ldt"),
            DTABLE.withName("gdt"), DTABLE.withName("idt"),
            JAVA_LONG.withName("cr0"), JAVA_LONG.withName("cr2"), JAVA_LONG.withName("cr3"), JAVA_LONG.withName("cr4"),
            JAVA_LONG.withName("cr8"), JAVA_LONG.withName("efer"), JAVA_LONG.withName("apic_base"),
            sequenceLayout(4, JAVA_LONG).withName("interrupt_bitmap")).withName("kvm_sregs");

    public static final StructLayout CPUID_ENTRY2 = structLayout(
            JAVA_INT.withName("function"),
            JAVA_INT.withName("index"),
            JAVA_INT.withName("flags"),
            JAVA_INT.withName("eax"),
            JAVA_INT.withName("ebx"),
            JAVA_INT.withName("ecx"),
            JAVA_INT.withName("edx"),
            sequenceLayout(3, JAVA_INT).withName("padding")).withName("kvm_cpuid_entry2");

    /** The fixed head of struct kvm_cpuid2; entries follow it. */
    public static final StructLayout CPUID2_HEAD = structLayout(
            JAVA_INT.withName("nent"),
            JAVA_INT.withName("padding")).withName("kvm_cpuid2");

    public static final StructLayout PIT_CONFIG = structLayout(
            JAVA_INT.withName("flags"),
            sequenceLayout(15, JAVA_INT).withName("pad")).withName("kvm_pit_config");

    /** struct kvm_irqchip: which chip, then its state as an opaque 512-byte union. */
    public static final StructLayout IRQCHIP = structLayout(
            JAVA_INT.withName("chip_id"),
            JAVA_INT.withName("pad"),
            sequenceLayout(512, JAVA_BYTE).withName("chip")).withName("kvm_irqchip");

    /** struct kvm_pit_state2: three channels (opaque here), flags. */
    public static final StructLayout PIT_STATE2 = structLayout(
            sequenceLayout(3 * 24, JAVA_BYTE).withName("channels"),
            JAVA_INT.withName("flags"),
            sequenceLayout(9, JAVA_INT).withName("reserved")).withName("kvm_pit_state2");

    public static final StructLayout IRQ_LEVEL = structLayout(
            JAVA_INT.withName("irq"),
            JAVA_INT.withName("level")).withName("kvm_irq_level");

    public static final StructLayout MSI = structLayout(
            JAVA_INT.withName("address_lo"),
            JAVA_INT.withName("address_hi"),
            JAVA_INT.withName("data"),
            JAVA_INT.withName("flags"),
            JAVA_INT.withName("devid"),
            sequenceLayout(12, JAVA_BYTE).withName("pad")).withName("kvm_msi");

    public static final StructLayout IRQFD = structLayout(
            JAVA_INT.withName("fd"),
            JAVA_INT.withName("gsi"),
            JAVA_INT.withName("flags"),
            JAVA_INT.withName("resamplefd"),
            sequenceLayout(16, JAVA_BYTE).withName("pad")).withName("kvm_irqfd");

    public static final StructLayout IOEVENTFD = structLayout(
            JAVA_LONG.withName("datamatch"),
            JAVA_LONG.withName("addr"),
            JAVA_INT.withName("len"),
            JAVA_INT.withName("fd"),
            JAVA_INT.withName("flags"),
            sequenceLayout(36, JAVA_BYTE).withName("pad")).withName("kvm_ioeventfd");

    public static final StructLayout IRQ_ROUTING_IRQCHIP = structLayout(
            JAVA_INT.withName("irqchip"),
            JAVA_INT.withName("pin")).withName("kvm_irq_routing_irqchip");

    public static final StructLayout IRQ_ROUTING_MSI = structLayout(
            JAVA_INT.withName("address_lo"),
            JAVA_INT.withName("address_hi"),
            JAVA_INT.withName("data"),
            JAVA_INT.withName("devid")).withName("kvm_irq_routing_msi");

    public static final UnionLayout IRQ_ROUTING_UNION = unionLayout(
            IRQ_ROUTING_IRQCHIP.withName("irqchip"),
            IRQ_ROUTING_MSI.withName("msi"),
            sequenceLayout(8, JAVA_INT).withName("pad"));

    public static final StructLayout IRQ_ROUTING_ENTRY = structLayout(
            JAVA_INT.withName("gsi"),
            JAVA_INT.withName("type"),
            JAVA_INT.withName("flags"),
            JAVA_INT.withName("pad"),
            IRQ_ROUTING_UNION.withName("u")).withName("kvm_irq_routing_entry");

    /** The fixed head of struct kvm_irq_routing; entries follow it. */
    public static final StructLayout IRQ_ROUTING_HEAD = structLayout(
            JAVA_INT.withName("nr"),
            JAVA_INT.withName("flags")).withName("kvm_irq_routing");

    /** The fixed head of struct kvm_signal_mask; the kernel sigset (8 bytes on x86-64) follows. */
    public static final StructLayout SIGNAL_MASK_HEAD = structLayout(
            JAVA_INT.withName("len")).withName("kvm_signal_mask");

    public static final StructLayout MP_STATE = structLayout(
            JAVA_INT.withName("mp_state")).withName("kvm_mp_state");

    public static final StructLayout LAPIC_STATE = structLayout(
            sequenceLayout(1024, JAVA_BYTE).withName("regs")).withName("kvm_lapic_state");

    public static final StructLayout MSR_ENTRY = structLayout(
            JAVA_INT.withName("index"),
            JAVA_INT.withName("reserved"),
            JAVA_LONG.withName("data")).withName("kvm_msr_entry");

    public static final StructLayout MSRS_HEAD = structLayout(
            JAVA_INT.withName("nmsrs"),
            JAVA_INT.withName("pad")).withName("kvm_msrs");

    public static final StructLayout DIRTY_LOG = structLayout(
            JAVA_INT.withName("slot"),
            JAVA_INT.withName("padding1"),
            JAVA_LONG.withName("dirty_bitmap")).withName("kvm_dirty_log");

    public static final StructLayout ENABLE_CAP = structLayout(
            JAVA_INT.withName("cap"),
            JAVA_INT.withName("flags"),
            sequenceLayout(4, JAVA_LONG).withName("args"),
            sequenceLayout(64, JAVA_BYTE).withName("pad")).withName("kvm_enable_cap");

    public static final StructLayout FPU = structLayout(
            sequenceLayout(8 * 16, JAVA_BYTE).withName("fpr"),
            JAVA_SHORT.withName("fcw"),
            JAVA_SHORT.withName("fsw"),
            JAVA_BYTE.withName("ftwx"),
            JAVA_BYTE.withName("pad1"),
            JAVA_SHORT.withName("last_opcode"),
            JAVA_LONG.withName("last_ip"),
            JAVA_LONG.withName("last_dp"),
            sequenceLayout(16 * 16, JAVA_BYTE).withName("xmm"),
            JAVA_INT.withName("mxcsr"),
            JAVA_INT.withName("pad2")).withName("kvm_fpu");

    /** The exit payloads of struct kvm_run that jkvm reads, overlaid in its 256-byte union (anonymous in C, hence the "anon_" name). */
    public static final StructLayout RUN_IO = structLayout(
            JAVA_BYTE.withName("direction"),
            JAVA_BYTE.withName("size"),
            JAVA_SHORT.withName("port"),
            JAVA_INT.withName("count"),
            JAVA_LONG.withName("data_offset")).withName("io");

    public static final StructLayout RUN_MMIO = structLayout(
            JAVA_LONG.withName("phys_addr"),
            sequenceLayout(8, JAVA_BYTE).withName("data"),
            JAVA_INT.withName("len"),
            JAVA_BYTE.withName("is_write"),
            paddingLayout(3)).withName("mmio");

    public static final StructLayout RUN_FAIL_ENTRY = structLayout(
            JAVA_LONG.withName("hardware_entry_failure_reason"),
            JAVA_INT.withName("cpu"),
            paddingLayout(4)).withName("fail_entry");

    public static final StructLayout RUN_INTERNAL = structLayout(
            JAVA_INT.withName("suberror"),
            JAVA_INT.withName("ndata"),
            sequenceLayout(16, JAVA_LONG).withName("data")).withName("internal");

    public static final StructLayout RUN_SYSTEM_EVENT = structLayout(
            JAVA_INT.withName("type"),
            JAVA_INT.withName("ndata"),
            sequenceLayout(16, JAVA_LONG).withName("data")).withName("system_event");

    public static final StructLayout RUN_EXCEPTION = structLayout(
            JAVA_INT.withName("exception"),
            JAVA_INT.withName("error_code")).withName("ex");

    public static final UnionLayout RUN_EXIT_UNION = unionLayout(
            RUN_IO, RUN_MMIO, RUN_FAIL_ENTRY, RUN_INTERNAL, RUN_SYSTEM_EVENT, RUN_EXCEPTION,
            sequenceLayout(256, JAVA_BYTE).withName("padding"));

    public static final StructLayout RUN = structLayout(
            JAVA_BYTE.withName("request_interrupt_window"),
            JAVA_BYTE.withName("immediate_exit"),
            sequenceLayout(6, JAVA_BYTE).withName("padding1"),
            JAVA_INT.withName("exit_reason"),
            JAVA_BYTE.withName("ready_for_interrupt_injection"),
            JAVA_BYTE.withName("if_flag"),
            JAVA_SHORT.withName("flags"),
            JAVA_LONG.withName("cr8"),
            JAVA_LONG.withName("apic_base"),
            RUN_EXIT_UNION.withName("anon_exit"),
            JAVA_LONG.withName("kvm_valid_regs"),
            JAVA_LONG.withName("kvm_dirty_regs"),
            sequenceLayout(2048, JAVA_BYTE).withName("s")).withName("kvm_run");

    // Offsets the exit loop reads directly, resolved once.
    public static final long RUN_IMMEDIATE_EXIT = offset(RUN, "immediate_exit");
    public static final long RUN_EXIT_REASON = offset(RUN, "exit_reason");
    public static final long RUN_IO_DIRECTION = offset(RUN, "anon_exit", "io", "direction");
    public static final long RUN_IO_SIZE = offset(RUN, "anon_exit", "io", "size");
    public static final long RUN_IO_PORT = offset(RUN, "anon_exit", "io", "port");
    public static final long RUN_IO_COUNT = offset(RUN, "anon_exit", "io", "count");
    public static final long RUN_IO_DATA_OFFSET = offset(RUN, "anon_exit", "io", "data_offset");
    public static final long RUN_MMIO_PHYS_ADDR = offset(RUN, "anon_exit", "mmio", "phys_addr");
    public static final long RUN_MMIO_DATA = offset(RUN, "anon_exit", "mmio", "data");
    public static final long RUN_MMIO_LEN = offset(RUN, "anon_exit", "mmio", "len");
    public static final long RUN_MMIO_IS_WRITE = offset(RUN, "anon_exit", "mmio", "is_write");
    public static final long RUN_FAIL_ENTRY_REASON = offset(RUN, "anon_exit", "fail_entry", "hardware_entry_failure_reason");
    public static final long RUN_FAIL_ENTRY_CPU = offset(RUN, "anon_exit", "fail_entry", "cpu");
    public static final long RUN_INTERNAL_SUBERROR = offset(RUN, "anon_exit", "internal", "suberror");
    public static final long RUN_INTERNAL_NDATA = offset(RUN, "anon_exit", "internal", "ndata");
    public static final long RUN_INTERNAL_DATA = offset(RUN, "anon_exit", "internal", "data");
    public static final long RUN_SYSTEM_EVENT_TYPE = offset(RUN, "anon_exit", "system_event", "type");
    public static final long RUN_SYSTEM_EVENT_NDATA = offset(RUN, "anon_exit", "system_event", "ndata");
    public static final long RUN_SYSTEM_EVENT_DATA = offset(RUN, "anon_exit", "system_event", "data");
}
