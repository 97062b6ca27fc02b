package dev.jkvm.machine.firmware;

import dev.jkvm.devices.legacy.platform.AcpiHardware;
import dev.jkvm.memory.GuestMemory;

import java.util.ArrayList;
import java.util.List;

/**
 * The ACPI tables of a jkvm PC (ACPI 6.0 layouts), built as bytes and placed in the BIOS area:
 * <pre>
 *   0xE0000  RSDP, revision 2 (36 bytes; both checksums), found by the 16-byte scan of 0xE0000-0xFFFFF
 *   0xE0040  FACS (64 bytes, 64-byte aligned, no checksum)
 *   then, each 16-byte aligned: RSDT, XSDT (FACP, APIC), FACP (FADT rev 6), APIC (MADT), DSDT
 * </pre>
 * Everything stays below {@link #AREA_END} (0xF0000); {@link MpTable} uses the F segment.
 *
 * <p>Choices that the rest of the machine must honour:
 * <ul>
 * <li>The fixed hardware is {@link dev.jkvm.devices.legacy.platform.AcpiHardware}'s: PM1a_EVT at
 *     0x600 (4 bytes), PM1a_CNT at 0x604 (2), PM_TMR at 0x608 (4, 24-bit), GPE0 at 0xAFE0 (4),
 *     SMI_CMD 0xB2 with ACPI_ENABLE 0xF1 / ACPI_DISABLE 0xF0 (as QEMU's PIIX4: the OS writes 0xF1
 *     and waits for SCI_EN), reset register I/O 0xCF9 value 6, SCI on IRQ/GSI 9, level, active
 *     high. {@code \_S5} is SLP_TYP 0 and {@code \_S4} SLP_TYP 2; there is no {@code \_S3}.</li>
 * <li>PCI INTx: the DSDT's _PRT gives every slot's INTA-INTD as fixed GSIs (no link devices),
 *     following the PIIX3 routing at boot (PIRQ A-D -> 10, 10, 11, 11). The MADT overrides those
 *     IRQs, like the SCI's, to level-triggered active-high, which is what KVM's in-kernel IOAPIC
 *     sees (an asserted line is 1; it ignores the polarity bit). Linux registers a static _PRT
 *     GSI as level, active low (the _PRT default) and reprograms the legacy pin on first use; with
 *     KVM's IOAPIC either polarity works. An OS that reprograms PIRQ routing behind a static _PRT
 *     is on its own.</li>
 * <li>Processors are {@code \_SB.Cnnn} devices (ACPI0007) whose _UID is the vCPU index, the
 *     MADT's processor UID. A root bridge has no _ADR next to its _HID (ACPI 6.x section 6.1).</li>
 * </ul>
 * The machine writes an {@link MpTable} as well, as SeaBIOS does, for an OS that ignores ACPI.
 */
public final class AcpiTables {
    public static final long AREA_START = 0xe0000L;
    public static final long AREA_END = 0xf0000L;
    public static final long RSDP_ADDRESS = AREA_START;
    public static final long FACS_ADDRESS = AREA_START + 0x40;

    public static final String OEM_ID = "JKVM";
    public static final String CREATOR_ID = "JKVM";
    public static final int HEADER_SIZE = 36;
    public static final int RSDP_SIZE = 36;
    public static final int FACS_SIZE = 64;
    public static final int FADT_SIZE = 276;
    public static final int FADT_REVISION = 6;
    public static final int MADT_REVISION = 3;
    public static final int DSDT_REVISION = 2;

    /**
     * FADT flags: WBINVD, PROC_C1, SLP_BUTTON (no fixed sleep button; the power button is fixed),
     * RTC_S4, RESET_REG_SUP. TMR_VAL_EXT stays 0: the PM timer is 24-bit.
     */
    public static final int FADT_FLAGS = 1 << 0 | 1 << 2 | 1 << 5 | 1 << 7 | 1 << 10;
    /** IA-PC boot architecture: LEGACY_DEVICES and 8042. */
    public static final int IAPC_BOOT_ARCH = 0x0003;
    public static final int RESET_PORT = AcpiHardware.RESET_REG;
    public static final int RESET_VALUE = AcpiHardware.RESET_VALUE;
    /** CMOS index of the RTC's century byte (as jkvm's CMOS and QEMU's keep it). */
    public static final int RTC_CENTURY = 0x32;
    /** MPS INTI flags: level-triggered, active high. */
    public static final int LEVEL_ACTIVE_HIGH = 0x000d;

    /** PCI0's windows: the I/O space below the configuration ports and above them, VGA, and the 32-bit hole up to the IOAPIC. */
    public static final int PCI_IO_LOW_END = 0x0cf7;
    public static final int PCI_IO_HIGH_START = 0x0d00;
    public static final long VGA_START = 0xa0000L;
    public static final long VGA_END = 0xbffffL;
    public static final long PCI_HOLE_START = 0xc0000000L;
    public static final long PCI_HOLE_END = 0xfebfffffL;

    /** One table (or the RSDP) and where it goes. */
    public record Table(String signature, long address, byte[] bytes) {
        public Table {
            bytes = bytes.clone();
        }

        @Override
        public byte[] bytes() {
            return bytes.clone();
        }

        public int length() {
            return bytes.length;
        }
    }

    /** All tables, the RSDP first. */
    public record Image(List<Table> tables) {
        public Image {
            tables = List.copyOf(tables);
        }

        public long rsdpAddress() {
            return tables.getFirst().address();
        }

        /** The table with this signature ("RSD PTR " for the RSDP, "FACP" for the FADT). */
        public Table table(String signature) {
            return tables.stream().filter(t -> t.signature().equals(signature)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("no " + signature + " table"));
        }

        public void writeTo(GuestMemory memory) {
            for (Table t : tables) {
                byte[] b = t.bytes();
                memory.write(t.address(), b, 0, b.length);
            }
        }
    }

    private AcpiTables() {
    }

    /** Builds the tables and writes them into guest memory; returns the RSDP's address. */
    public static long install(GuestMemory memory, FirmwareConfig config) {
        Image image = build(config);
        image.writeTo(memory);
        return image.rsdpAddress();
    }

    /** Builds every table at its final address. */
    public static Image build(FirmwareConfig config) {
        byte[] dsdt = dsdt(config);
        byte[] madt = madt(config);
        long rsdt = align(FACS_ADDRESS + FACS_SIZE, 16);
        int tableCount = 2;   // FACP, APIC
        long xsdt = align(rsdt + HEADER_SIZE + 4L * tableCount, 16);
        long fadtAt = align(xsdt + HEADER_SIZE + 8L * tableCount, 16);
        long madtAt = align(fadtAt + FADT_SIZE, 16);
        long dsdtAt = align(madtAt + madt.length, 16);
        long end = dsdtAt + dsdt.length;
        if (end > AREA_END) {
            throw new IllegalArgumentException(String.format(
                    "the ACPI tables for %d vCPUs need %d bytes, more than the %d the BIOS area has for them",
                    config.apicIds().size(), end - AREA_START, AREA_END - AREA_START));
        }
        List<Table> tables = new ArrayList<>();
        tables.add(new Table("RSD PTR ", RSDP_ADDRESS, rsdp(rsdt, xsdt)));
        tables.add(new Table("FACS", FACS_ADDRESS, facs()));
        tables.add(new Table("RSDT", rsdt, rsdt(List.of(fadtAt, madtAt))));
        tables.add(new Table("XSDT", xsdt, xsdt(List.of(fadtAt, madtAt))));
        tables.add(new Table("FACP", fadtAt, fadt(config, FACS_ADDRESS, dsdtAt)));
        tables.add(new Table("APIC", madtAt, madt));
        tables.add(new Table("DSDT", dsdtAt, dsdt));
        return new Image(tables);
    }

    static long align(long v, int a) {
        return (v + a - 1) & -a;
    }

    /** The 36-byte System Description Table header; length and checksum are patched by {@link #finish}. */
    static ByteWriter header(String signature, int revision) {
        ByteWriter w = new ByteWriter();
        w.ascii(signature, 4, ' ');
        w.u32(0);                                   // 4  Length
        w.u8(revision);                             // 8  Revision
        w.u8(0);                                    // 9  Checksum
        w.ascii(OEM_ID, 6, ' ');                    // 10 OEMID
        w.ascii(OEM_ID + signature, 8, ' ');        // 16 OEM Table ID
        w.u32(1);                                   // 24 OEM Revision
        w.ascii(CREATOR_ID, 4, ' ');                // 28 Creator ID
        w.u32(1);                                   // 32 Creator Revision
        return w;
    }

    /** Patches the length and the checksum of a table that starts with {@link #header}. */
    static byte[] finish(ByteWriter w) {
        w.put32(4, w.size());
        byte[] b = w.toArray();
        b[9] = (byte) ByteWriter.checksum(b, 0, b.length);
        return b;
    }

    /** RSDP revision 2: checksum over the first 20 bytes, extended checksum over all 36. */
    static byte[] rsdp(long rsdt, long xsdt) {
        ByteWriter w = new ByteWriter();
        w.ascii("RSD PTR ", 8, ' ');                // 0
        w.u8(0);                                    // 8  Checksum (bytes 0-19)
        w.ascii(OEM_ID, 6, ' ');                    // 9  OEMID
        w.u8(2);                                    // 15 Revision
        w.u32(rsdt);                                // 16 RsdtAddress
        w.u32(RSDP_SIZE);                           // 20 Length
        w.u64(xsdt);                                // 24 XsdtAddress
        w.u8(0);                                    // 32 Extended Checksum
        w.zeros(3);                                 // 33 Reserved
        byte[] b = w.toArray();
        b[8] = (byte) ByteWriter.checksum(b, 0, 20);
        b[32] = (byte) ByteWriter.checksum(b, 0, RSDP_SIZE);
        return b;
    }

    static byte[] rsdt(List<Long> entries) {
        ByteWriter w = header("RSDT", 1);
        entries.forEach(w::u32);
        return finish(w);
    }

    static byte[] xsdt(List<Long> entries) {
        ByteWriter w = header("XSDT", 1);
        entries.forEach(w::u64);
        return finish(w);
    }

    /** FACS version 2 (ACPI 6.0): no checksum; the global lock and waking vectors start at 0. */
    static byte[] facs() {
        ByteWriter w = new ByteWriter();
        w.ascii("FACS", 4, ' ');
        w.u32(FACS_SIZE);                           // 4  Length
        w.u32(0);                                   // 8  Hardware Signature
        w.u32(0);                                   // 12 Firmware Waking Vector
        w.u32(0);                                   // 16 Global Lock
        w.u32(0);                                   // 20 Flags
        w.u64(0);                                   // 24 X_Firmware_Waking_Vector
        w.u8(2);                                    // 32 Version
        w.zeros(3);                                 // 33 Reserved
        w.u32(0);                                   // 36 OSPM Flags
        w.zeros(24);                                // 40 Reserved
        return w.toArray();
    }

    /** A Generic Address Structure in system I/O space. */
    static void ioGas(ByteWriter w, int port, int bitWidth, int accessSize) {
        w.u8(1).u8(bitWidth).u8(0).u8(accessSize).u64(port);
    }

    static void nullGas(ByteWriter w) {
        w.zeros(12);
    }

    /** FADT revision 6 (276 bytes), 32-bit block addresses and the same in the X_ fields. */
    static byte[] fadt(FirmwareConfig c, long facs, long dsdt) {
        ByteWriter w = header("FACP", FADT_REVISION);
        w.u32(facs);                                // 36 FIRMWARE_CTRL
        w.u32(dsdt);                                // 40 DSDT
        w.u8(0);                                    // 44 Reserved (INT_MODEL in ACPI 1.0)
        w.u8(0);                                    // 45 Preferred_PM_Profile: unspecified
        w.u16(c.sciIrq());                          // 46 SCI_INT
        w.u32(c.smiCommand());                      // 48 SMI_CMD
        w.u8(c.smiCommand() == 0 ? 0 : c.acpiEnable());    // 52 ACPI_ENABLE
        w.u8(c.smiCommand() == 0 ? 0 : c.acpiDisable());   // 53 ACPI_DISABLE
        w.u8(0);                                    // 54 S4BIOS_REQ
        w.u8(0);                                    // 55 PSTATE_CNT
        w.u32(c.pm1aEventBlock());                  // 56 PM1a_EVT_BLK
        w.u32(0);                                   // 60 PM1b_EVT_BLK
        w.u32(c.pm1aControlBlock());                // 64 PM1a_CNT_BLK
        w.u32(0);                                   // 68 PM1b_CNT_BLK
        w.u32(0);                                   // 72 PM2_CNT_BLK
        w.u32(c.pmTimerBlock());                    // 76 PM_TMR_BLK
        w.u32(c.gpe0Base());                        // 80 GPE0_BLK
        w.u32(0);                                   // 84 GPE1_BLK
        w.u8(4);                                    // 88 PM1_EVT_LEN
        w.u8(2);                                    // 89 PM1_CNT_LEN
        w.u8(0);                                    // 90 PM2_CNT_LEN
        w.u8(4);                                    // 91 PM_TMR_LEN
        w.u8(c.gpe0Length());                       // 92 GPE0_BLK_LEN
        w.u8(0);                                    // 93 GPE1_BLK_LEN
        w.u8(0);                                    // 94 GPE1_BASE
        w.u8(0);                                    // 95 CST_CNT
        w.u16(0xfff);                               // 96 P_LVL2_LAT: > 100, no C2
        w.u16(0xfff);                               // 98 P_LVL3_LAT: > 1000, no C3
        w.u16(0);                                   // 100 FLUSH_SIZE
        w.u16(0);                                   // 102 FLUSH_STRIDE
        w.u8(0);                                    // 104 DUTY_OFFSET
        w.u8(0);                                    // 105 DUTY_WIDTH
        w.u8(0);                                    // 106 DAY_ALRM
        w.u8(0);                                    // 107 MON_ALRM
        w.u8(RTC_CENTURY);                          // 108 CENTURY
        w.u16(IAPC_BOOT_ARCH);                      // 109 IAPC_BOOT_ARCH
        w.u8(0);                                    // 111 Reserved
        w.u32(FADT_FLAGS);                          // 112 Flags
        ioGas(w, RESET_PORT, 8, 1);                 // 116 RESET_REG
        w.u8(RESET_VALUE);                          // 128 RESET_VALUE
        w.u16(0);                                   // 129 ARM_BOOT_ARCH
        w.u8(0);                                    // 131 FADT Minor Version (6.0)
        w.u64(facs);                                // 132 X_FIRMWARE_CTRL
        w.u64(dsdt);                                // 140 X_DSDT
        ioGas(w, c.pm1aEventBlock(), 32, 2);        // 148 X_PM1a_EVT_BLK (16-bit status and enable)
        nullGas(w);                                 // 160 X_PM1b_EVT_BLK
        ioGas(w, c.pm1aControlBlock(), 16, 2);      // 172 X_PM1a_CNT_BLK
        nullGas(w);                                 // 184 X_PM1b_CNT_BLK
        nullGas(w);                                 // 196 X_PM2_CNT_BLK
        ioGas(w, c.pmTimerBlock(), 32, 3);          // 208 X_PM_TMR_BLK
        ioGas(w, c.gpe0Base(), c.gpe0Length() * 8, 1); // 220 X_GPE0_BLK
        nullGas(w);                                 // 232 X_GPE1_BLK
        nullGas(w);                                 // 244 SLEEP_CONTROL_REG
        nullGas(w);                                 // 256 SLEEP_STATUS_REG
        w.u64(0);                                   // 268 Hypervisor Vendor Identity
        return finish(w);
    }

    /**
     * MADT: one Processor Local APIC per vCPU (UID = vCPU index; an APIC ID above 254 needs a
     * Processor Local x2APIC entry instead), the IOAPIC, Interrupt Source Overrides for IRQ 0 ->
     * GSI 2, the SCI and the PCI IRQs (level, active high), and a LINT1 NMI for every CPU.
     */
    static byte[] madt(FirmwareConfig c) {
        ByteWriter w = header("APIC", MADT_REVISION);
        w.u32(c.lapicAddress());                    // 36 Local Interrupt Controller Address
        w.u32(1);                                   // 40 Flags: PCAT_COMPAT (dual 8259s present)
        boolean x2apic = false;
        for (int i = 0; i < c.apicIds().size(); i++) {
            int id = c.apicIds().get(i);
            if (id < 0xff && i < 0xff) {
                w.u8(0).u8(8).u8(i).u8(id).u32(1);              // Processor Local APIC, enabled
            } else {
                w.u8(9).u8(16).u16(0).u32(id).u32(1).u32(i);   // Processor Local x2APIC, enabled
                x2apic = true;
            }
        }
        w.u8(1).u8(12).u8(c.ioApicId()).u8(0).u32(c.ioApicAddress()).u32(c.ioApicGsiBase());
        w.u8(2).u8(10).u8(0).u8(0).u32(c.ioApicGsiBase() + 2).u16(0);   // ISA IRQ 0 -> GSI 2, conforming (edge, high)
        for (int irq : overriddenLevelIrqs(c)) {
            w.u8(2).u8(10).u8(0).u8(irq).u32(c.ioApicGsiBase() + irq).u16(LEVEL_ACTIVE_HIGH);
        }
        w.u8(4).u8(6).u8(0xff).u16(0).u8(1);                   // Local APIC NMI: all processors, LINT1
        if (x2apic) {
            w.u8(0x0a).u8(12).u16(0).u32(0xffffffffL).u8(1).zeros(3);   // Local x2APIC NMI: all, LINT1
        }
        return finish(w);
    }

    /** The ISA IRQs the MADT makes level-triggered active-high: the SCI and every PCI INTx IRQ. */
    static List<Integer> overriddenLevelIrqs(FirmwareConfig c) {
        List<Integer> irqs = new ArrayList<>();
        irqs.add(c.sciIrq());
        for (int irq : c.pciIrqs()) {
            if (!irqs.contains(irq)) {
                irqs.add(irq);
            }
        }
        irqs.sort(null);
        return irqs;
    }

    /**
     * The DSDT: {@code \_S4} and {@code \_S5} (SLP_TYP 2 and 0, as the PIIX4 PM device takes them),
     * {@code \_SB.PCI0} (PNP0A03, with its windows and a _PRT of fixed GSIs), {@code \_SB.PCI0.ISA}
     * (the PIIX3 at 00:01.0), and one processor device (ACPI0007) per vCPU, whose _UID is the MADT's
     * processor UID.
     */
    static byte[] dsdt(FirmwareConfig c) {
        ByteWriter w = header("DSDT", DSDT_REVISION);
        w.bytes(Aml.name("_S4", sleepPackage(AcpiHardware.SLP_TYP_S4)));
        w.bytes(Aml.name("_S5", sleepPackage(AcpiHardware.SLP_TYP_S5)));
        List<byte[]> sb = new ArrayList<>();
        sb.add(pci0(c));
        for (int i = 0; i < c.apicIds().size(); i++) {
            sb.add(Aml.device(String.format("C%03X", i),
                    Aml.name("_HID", Aml.string("ACPI0007")),
                    Aml.name("_UID", Aml.integer(i)),
                    Aml.method("_STA", 0, false, Aml.returnValue(Aml.integer(0x0f)))));
        }
        w.bytes(Aml.scope("\\_SB", sb.toArray(byte[][]::new)));
        return finish(w);
    }

    /** A sleep-state package: PM1a_CNT.SLP_TYP, PM1b_CNT.SLP_TYP (no PM1b), two reserved. */
    static byte[] sleepPackage(int slpTyp) {
        return Aml.packageOf(Aml.integer(slpTyp), Aml.integer(0), Aml.integer(0), Aml.integer(0));
    }

    static byte[] pci0(FirmwareConfig c) {
        byte[] crs = new Aml.Resources()
                .wordBusNumber(0, 0xff)
                .io(0xcf8, 0xcf8, 1, 8)
                .wordIo(0, PCI_IO_LOW_END)
                .wordIo(PCI_IO_HIGH_START, 0xffff)
                .dwordMemory(VGA_START, VGA_END, true, true)
                .dwordMemory(PCI_HOLE_START, PCI_HOLE_END, false, true)
                .template();
        // No _ADR next to the _HID: ACPI 6.x section 6.1 allows one or the other (iasl warns 3073 about
        // both). A root bridge is found by its _HID; its bus number comes from _CRS (and _BBN, 0 when absent).
        return Aml.device("PCI0",
                Aml.name("_HID", Aml.eisaId("PNP0A03")),
                Aml.name("_UID", Aml.integer(0)),
                Aml.name("_CRS", crs),
                Aml.name("_PRT", prt(c)),
                Aml.device("ISA", Aml.name("_ADR", Aml.integer(0x00010000))));
    }

    /** Slots 0-31, pins INTA-INTD: Package {0xSSSSFFFF, pin, 0, GSI} each. */
    static byte[] prt(FirmwareConfig c) {
        byte[][] entries = new byte[32 * 4][];
        for (int slot = 0; slot < 32; slot++) {
            for (int pin = 0; pin < 4; pin++) {
                entries[slot * 4 + pin] = Aml.packageOf(Aml.integer((long) slot << 16 | 0xffff), Aml.integer(pin),
                        Aml.integer(0), Aml.integer(c.ioApicGsiBase() + c.intxIrq(slot, pin)));
            }
        }
        return Aml.packageOf(entries);
    }
}
