package dev.jkvm.machine.firmware;

import dev.jkvm.devices.legacy.platform.AcpiHardware;
import dev.jkvm.vmm.pci.PciBus;

import java.util.List;

/**
 * What the firmware tables describe: the vCPUs' local APIC IDs (in vCPU order; the first is the
 * boot CPU), the IOAPIC, the PIIX4-style power-management block, and where PCI INTx lines end up.
 *
 * @param apicIds       local APIC ID of each vCPU that starts, boot CPU first
 * @param ioApicId      the IOAPIC's ID (KVM's in-kernel IOAPIC resets to 0)
 * @param ioApicAddress the IOAPIC's MMIO base
 * @param ioApicGsiBase the first GSI the IOAPIC's pin 0 stands for
 * @param lapicAddress  the local APICs' MMIO base
 * @param pmIoBase      PM1a_EVT_BLK (4 bytes); PM1a_CNT_BLK is at +4 (2 bytes), PM_TMR_BLK at +8 (4 bytes)
 * @param gpe0Base      GPE0_BLK I/O address
 * @param gpe0Length    GPE0_BLK length in bytes (status half, then enable half)
 * @param smiCommand    SMI_CMD port (0: none, always in ACPI mode)
 * @param acpiEnable    the SMI_CMD value that sets SCI_EN
 * @param acpiDisable   the SMI_CMD value that clears it
 * @param sciIrq        the ISA IRQ (= GSI) of the ACPI SCI, level-triggered and active high
 * @param pirqIrqs      the ISA IRQ each of PIRQ A-D is steered to, as the PIIX3 routes them at boot
 * @param cpuSignature  CPUID leaf 1 EAX (family, model, stepping) for the MP table's processor entries
 * @param cpuFeatures   CPUID leaf 1 EDX for the MP table's processor entries
 */
public record FirmwareConfig(List<Integer> apicIds, int ioApicId, long ioApicAddress, int ioApicGsiBase, long lapicAddress,
                             int pmIoBase, int gpe0Base, int gpe0Length, int smiCommand, int acpiEnable, int acpiDisable,
                             int sciIrq, List<Integer> pirqIrqs,
                             int cpuSignature, int cpuFeatures) {
    public static final long IOAPIC_ADDRESS = 0xfec00000L;
    public static final long LAPIC_ADDRESS = 0xfee00000L;
    /** PIRQ A-D -> ISA IRQ, as {@code PcMachine} programs the PIIX3 (and SeaBIOS leaves it). */
    public static final List<Integer> PC_PIRQ_IRQS = List.of(10, 10, 11, 11);
    /** Pins of KVM's in-kernel IOAPIC. */
    public static final int IOAPIC_PINS = 24;

    public FirmwareConfig {
        apicIds = List.copyOf(apicIds);
        pirqIrqs = List.copyOf(pirqIrqs);
        if (apicIds.isEmpty()) {
            throw new IllegalArgumentException("at least one CPU is needed");
        }
        if (apicIds.stream().distinct().count() != apicIds.size()) {
            throw new IllegalArgumentException("APIC IDs must be distinct: " + apicIds);
        }
        if (pirqIrqs.size() != 4) {
            throw new IllegalArgumentException("four PIRQ routes (A-D) are needed");
        }
        for (int irq : pirqIrqs) {
            if (irq < 0 || irq > 15) {
                throw new IllegalArgumentException("PIRQ route to IRQ " + irq + " is not an ISA IRQ");
            }
        }
        if (sciIrq < 0 || sciIrq > 15 || sciIrq == 0 || sciIrq == 2) {
            throw new IllegalArgumentException("SCI IRQ " + sciIrq + " is not usable");
        }
    }

    /**
     * A PC with jkvm's standard chipset and these vCPUs: the PIIX4 PM block, GPE0, SMI_CMD and SCI
     * where {@link AcpiHardware} puts them; CPUID signature and features left 0.
     */
    public static FirmwareConfig pc(int[] apicIds) {
        return new FirmwareConfig(java.util.Arrays.stream(apicIds).boxed().toList(), 0, IOAPIC_ADDRESS, 0, LAPIC_ADDRESS,
                AcpiHardware.PM_BASE, AcpiHardware.GPE0_BLK, AcpiHardware.GPE0_BLK_LEN,
                AcpiHardware.SMI_CMD, AcpiHardware.ACPI_ENABLE, AcpiHardware.ACPI_DISABLE, AcpiHardware.SCI_IRQ, PC_PIRQ_IRQS, 0, 0);
    }

    public FirmwareConfig withCpuid(int signature, int features) {
        return new FirmwareConfig(apicIds, ioApicId, ioApicAddress, ioApicGsiBase, lapicAddress, pmIoBase, gpe0Base, gpe0Length,
                smiCommand, acpiEnable, acpiDisable, sciIrq, pirqIrqs, signature, features);
    }

    public int pm1aEventBlock() {
        return pmIoBase;
    }

    public int pm1aControlBlock() {
        return pmIoBase + 4;
    }

    public int pmTimerBlock() {
        return pmIoBase + 8;
    }

    /**
     * The PIRQ (0-3 = A-D) a slot's pin (0-3 = INTA-INTD) is wired to: the PIIX swizzle, (pin + slot - 1) mod 4,
     * taken from the bus model so that the tables and the wiring cannot disagree.
     */
    public static int pirq(int slot, int pin) {
        return PciBus.pirqFor(slot, pin + 1);
    }

    /** The ISA IRQ (and GSI) a slot's pin reaches with the boot-time PIRQ routing. */
    public int intxIrq(int slot, int pin) {
        return pirqIrqs.get(pirq(slot, pin));
    }

    /** The distinct IRQs PCI INTx lines use, ascending. */
    public List<Integer> pciIrqs() {
        return pirqIrqs.stream().distinct().sorted().toList();
    }
}
