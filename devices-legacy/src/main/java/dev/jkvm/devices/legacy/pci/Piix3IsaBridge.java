package dev.jkvm.devices.legacy.pci;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.pci.PciConfiguration;
import dev.jkvm.vmm.pci.PciFunction;
import dev.jkvm.vmm.pci.PirqRouter;

/**
 * The PIIX3 PCI-to-ISA bridge at 00:01.0. What matters to a guest is its PIRQ route control
 * registers (0x60-0x63): each steers one of the four PCI interrupt lines to an ISA IRQ, or
 * disables it (bit 7). The bus asks {@link #irqForPirq} and is told when the guest reprograms them.
 */
public final class Piix3IsaBridge implements PciFunction, PirqRouter {
    public static final int DEVICE_PIIX3_ISA = 0x7000;
    public static final int PIRQ_ROUTE = 0x60;
    private static final int ROUTE_DISABLED = 0x80;

    private final PciConfiguration config = new PciConfiguration(I440fxHostBridge.VENDOR_INTEL, DEVICE_PIIX3_ISA, 0x060100, 0x00,
            I440fxHostBridge.SUBSYSTEM_VENDOR, I440fxHostBridge.SUBSYSTEM_ID);
    private final Runnable routingChanged;

    /** @param routingChanged told after the guest rewrites a PIRQ route register */
    public Piix3IsaBridge(Runnable routingChanged) {
        this.routingChanged = routingChanged;
        // Function 0 of a multi-function device: IDE and ACPI live at 01.1 and 01.3.
        config.setMultiFunction(true);
        for (int i = 0; i < 4; i++) {
            config.set8(PIRQ_ROUTE + i, ROUTE_DISABLED);
        }
        config.setWritable(PIRQ_ROUTE, 4, 0x8f8f8f8fL);
        // The rest of the chipset registers (top-of-memory, APIC base, deterministic latency) is storage.
        config.setWritable(0x4c, 1, 0xff);
        config.setWritable(0x4e, 2, 0xffff);
        config.setWritable(0x69, 2, 0xffff);
        config.setWritable(0x70, 1, 0xff);
        config.setWritable(0x76, 2, 0xffff);
        config.setWritable(0x80, 3, 0xffffff);
        config.setWritable(0xa0, 0x10, -1L);
    }

    /** Routes PIRQ A-D to these IRQs, as firmware does before the guest runs (SeaBIOS: 10, 10, 11, 11). */
    public void route(int... irqs) {
        for (int i = 0; i < 4 && i < irqs.length; i++) {
            config.set8(PIRQ_ROUTE + i, irqs[i] < 0 ? ROUTE_DISABLED : irqs[i]);
        }
        routingChanged.run();
    }

    @Override
    public int irqForPirq(int pirq) {
        int route = config.get8(PIRQ_ROUTE + pirq);
        int irq = route & 0x0f;
        // PIIX3 cannot steer to IRQ 0, 1, 2, 8 or 13 (timer, keyboard, cascade, RTC, FPU).
        if ((route & ROUTE_DISABLED) != 0 || irq < 3 || irq == 8 || irq == 13) {
            return -1;
        }
        return irq;
    }

    @Override
    public void writeConfig(int offset, int size, long value) {
        config.write(offset, size, value);
        if (offset < PIRQ_ROUTE + 4 && offset + size > PIRQ_ROUTE) {
            routingChanged.run();
        }
    }

    @Override
    public String name() {
        return "piix3-isa";
    }

    @Override
    public PciConfiguration configuration() {
        return config;
    }

    @Override
    public BusDevice bar(int index) {
        return null;
    }
}
