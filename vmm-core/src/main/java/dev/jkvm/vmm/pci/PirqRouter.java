package dev.jkvm.vmm.pci;

/** The chipset's PIRQ steering (PIIX3 registers 0x60-0x63): which ISA IRQ each PIRQ line drives. */
public interface PirqRouter {
    /** The IRQ PIRQ A-D ({@code pirq} 0-3) is routed to, or -1 when routing is disabled. */
    int irqForPirq(int pirq);
}
