package dev.jkvm.machine;

/** How jkvm enters an ELF kernel. */
public enum BootEntry {
    /** The jkvm 64-bit entry note if the ELF has one, otherwise its PVH entry. */
    AUTO,
    /** Straight into 64-bit long mode at the entry in the ELF's jkvm note. */
    LONG,
    /** The Xen PVH 32-bit entry, exactly as QEMU enters it. */
    PVH
}
