package dev.jkvm.machine.firmware;

import dev.jkvm.memory.GuestMemory;

/**
 * The Intel MultiProcessor Specification 1.4 tables: a floating pointer structure at
 * {@link #FLOATING_POINTER_ADDRESS} (in the 0xF0000-0xFFFFF range every MP-aware OS scans) and
 * right after it the configuration table, with entries in the order the spec requires:
 * processors, buses (PCI 0, ISA 1), the IOAPIC, I/O interrupt assignments, local interrupt
 * assignments.
 *
 * <p>Interrupts: ISA IRQs 0-15 (but not 2, the cascade) go to the IOAPIC pin of the same number,
 * except IRQ 0 -> pin 2; every PCI slot's INTA-INTD goes to the pin of its PIRQ's IRQ (slot 0-31,
 * source bus IRQ = slot << 2 | pin). Those PCI IRQs are described as level-triggered, active high,
 * for both their ISA and their PCI entries, as in the MADT ({@link AcpiTables}). ExtINT reaches
 * the boot CPU's LINT0 and NMI every CPU's LINT1 (virtual-wire mode: no IMCR).
 *
 * <p>Only CPUs whose APIC ID fits the table's 8-bit field (0-254) are listed.
 */
public final class MpTable {
    public static final long FLOATING_POINTER_ADDRESS = 0xf0000L;
    public static final long CONFIG_TABLE_ADDRESS = FLOATING_POINTER_ADDRESS + 16;
    /** Where the MP tables must end (the rest of the F segment is left for a BIOS). */
    public static final long AREA_END = 0xf8000L;
    public static final int SPEC_REVISION = 4;
    public static final int HEADER_SIZE = 44;
    /** KVM's local APIC version register (integrated xAPIC) and IOAPIC version. */
    public static final int LAPIC_VERSION = 0x14;
    public static final int IOAPIC_VERSION = 0x11;
    public static final int PCI_BUS_ID = 0;
    public static final int ISA_BUS_ID = 1;

    static final int PROCESSOR = 0;
    static final int BUS = 1;
    static final int IOAPIC = 2;
    static final int IO_INTERRUPT = 3;
    static final int LOCAL_INTERRUPT = 4;
    static final int INT = 0;
    static final int NMI = 1;
    static final int EXTINT = 3;

    /** The floating pointer and the configuration table, contiguous, at {@link #FLOATING_POINTER_ADDRESS}. */
    public record Image(long address, byte[] bytes) {
        public Image {
            bytes = bytes.clone();
        }

        @Override
        public byte[] bytes() {
            return bytes.clone();
        }

        public void writeTo(GuestMemory memory) {
            memory.write(address, bytes, 0, bytes.length);
        }
    }

    private MpTable() {
    }

    /** Builds the tables and writes them into guest memory; returns the floating pointer's address. */
    public static long install(GuestMemory memory, FirmwareConfig config) {
        Image image = build(config);
        image.writeTo(memory);
        return image.address();
    }

    public static Image build(FirmwareConfig c) {
        byte[] table = configTable(c);
        if (CONFIG_TABLE_ADDRESS + table.length > AREA_END || table.length > 0xffff) {
            throw new IllegalArgumentException(String.format("the MP table for %d vCPUs needs %d bytes, more than the %d it has room for",
                    c.apicIds().size(), table.length, AREA_END - CONFIG_TABLE_ADDRESS));
        }
        ByteWriter w = new ByteWriter();
        w.ascii("_MP_", 4, ' ');
        w.u32(CONFIG_TABLE_ADDRESS);                // 4  physical address pointer
        w.u8(1);                                    // 8  length in 16-byte units
        w.u8(SPEC_REVISION);                        // 9  spec revision (1.4)
        w.u8(0);                                    // 10 checksum
        w.u8(0);                                    // 11 feature byte 1: a configuration table is present
        w.u8(0);                                    // 12 feature byte 2: IMCRP clear, virtual-wire mode
        w.zeros(3);                                 // 13 feature bytes 3-5
        w.bytes(table);
        byte[] b = w.toArray();
        b[10] = (byte) ByteWriter.checksum(b, 0, 16);
        return new Image(FLOATING_POINTER_ADDRESS, b);
    }

    static byte[] configTable(FirmwareConfig c) {
        ByteWriter w = new ByteWriter();
        w.ascii("PCMP", 4, ' ');
        w.u16(0);                                   // 4  base table length
        w.u8(SPEC_REVISION);                        // 6  spec revision
        w.u8(0);                                    // 7  checksum
        w.ascii("JKVM", 8, ' ');                    // 8  OEM ID
        w.ascii("PC", 12, ' ');                     // 16 product ID
        w.u32(0);                                   // 28 OEM table pointer
        w.u16(0);                                   // 32 OEM table size
        w.u16(0);                                   // 34 entry count
        w.u32(c.lapicAddress());                    // 36 local APIC address
        w.u16(0);                                   // 40 extended table length
        w.u8(0);                                    // 42 extended table checksum
        w.u8(0);                                    // 43 reserved
        int entries = 0;
        for (int i = 0; i < c.apicIds().size(); i++) {
            int id = c.apicIds().get(i);
            if (id >= 0xff) {
                continue;
            }
            w.u8(PROCESSOR).u8(id).u8(LAPIC_VERSION).u8(i == 0 ? 0x03 : 0x01)   // enabled; the first is the BSP
                    .u32(c.cpuSignature() & 0xffffffffL).u32(c.cpuFeatures() & 0xffffffffL).zeros(8);
            entries++;
        }
        w.u8(BUS).u8(PCI_BUS_ID).ascii("PCI", 6, ' ');
        w.u8(BUS).u8(ISA_BUS_ID).ascii("ISA", 6, ' ');
        entries += 2;
        w.u8(IOAPIC).u8(c.ioApicId()).u8(IOAPIC_VERSION).u8(0x01).u32(c.ioApicAddress());
        entries++;
        java.util.List<Integer> pciIrqs = c.pciIrqs();
        for (int irq = 0; irq < 16; irq++) {
            if (irq == 2) {
                continue;
            }
            int flags = pciIrqs.contains(irq) ? AcpiTables.LEVEL_ACTIVE_HIGH : 0;
            ioInterrupt(w, flags, ISA_BUS_ID, irq, c.ioApicId(), irq == 0 ? 2 : irq);
            entries++;
        }
        for (int slot = 0; slot < 32; slot++) {
            for (int pin = 0; pin < 4; pin++) {
                ioInterrupt(w, AcpiTables.LEVEL_ACTIVE_HIGH, PCI_BUS_ID, slot << 2 | pin, c.ioApicId(), c.intxIrq(slot, pin));
                entries++;
            }
        }
        w.u8(LOCAL_INTERRUPT).u8(EXTINT).u16(0).u8(ISA_BUS_ID).u8(0).u8(bspId(c)).u8(0);
        w.u8(LOCAL_INTERRUPT).u8(NMI).u16(0).u8(ISA_BUS_ID).u8(0).u8(0xff).u8(1);
        entries += 2;
        w.put16(4, w.size());
        w.put16(34, entries);
        byte[] b = w.toArray();
        b[7] = (byte) ByteWriter.checksum(b, 0, b.length);
        return b;
    }

    private static int bspId(FirmwareConfig c) {
        int id = c.apicIds().getFirst();
        return id < 0xff ? id : 0xff;
    }

    private static void ioInterrupt(ByteWriter w, int flags, int bus, int busIrq, int ioApic, int pin) {
        w.u8(IO_INTERRUPT).u8(INT).u16(flags).u8(bus).u8(busIrq).u8(ioApic).u8(pin);
    }
}
