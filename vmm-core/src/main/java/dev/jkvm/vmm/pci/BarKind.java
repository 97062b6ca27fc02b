package dev.jkvm.vmm.pci;

/** What a base address register maps. */
public enum BarKind {
    /** Port I/O space. */
    IO,
    /** 32-bit memory space. */
    MEMORY32,
    /** 64-bit memory space; takes two BAR registers. */
    MEMORY64
}
