package dev.jkvm.vmm.boot;

import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.vmm.Vm;

import java.util.ArrayList;
import java.util.List;

/** One BIOS e820 memory map entry; PVH's memmap and Linux's boot_params use the same numbering. */
public record E820Entry(long address, long size, int type) {
    public static final int RAM = 1;
    public static final int RESERVED = 2;
    public static final int ACPI = 3;
    public static final int NVS = 4;

    public long end() {
        return address + size;
    }

    /**
     * The map a guest is given for a PC layout: usable low RAM around jkvm's boot data (reserved,
     * ending at {@code bootDataEnd}), the EBDA and BIOS area reserved, RAM from 1 MiB to the PCI
     * hole, the KVM TSS pages reserved, then high RAM.
     */
    public static List<E820Entry> forLayout(PcMemoryLayout layout, long bootDataEnd) {
        List<E820Entry> map = new ArrayList<>();
        long low = Math.min(layout.lowRamSize(), BootLayout.LOW_RAM_END);
        map.add(new E820Entry(0, BootLayout.BOOT_DATA_START, RAM));
        map.add(new E820Entry(BootLayout.BOOT_DATA_START, bootDataEnd - BootLayout.BOOT_DATA_START, RESERVED));
        if (low > bootDataEnd) {
            map.add(new E820Entry(bootDataEnd, low - bootDataEnd, RAM));
        }
        if (layout.lowRamSize() > BootLayout.LOW_RAM_END) {
            map.add(new E820Entry(BootLayout.LOW_RAM_END, 0xa0000 - BootLayout.LOW_RAM_END, RESERVED));
        }
        map.add(new E820Entry(BootLayout.BIOS_START, BootLayout.BIOS_END - BootLayout.BIOS_START, RESERVED));
        if (layout.lowRamSize() > BootLayout.KERNEL_MIN) {
            map.add(new E820Entry(BootLayout.KERNEL_MIN, layout.lowRamSize() - BootLayout.KERNEL_MIN, RAM));
        }
        map.add(new E820Entry(Vm.IDENTITY_MAP_ADDRESS, 0x4000, RESERVED));
        if (layout.highRamSize() > 0) {
            map.add(new E820Entry(PcMemoryLayout.HIGH_RAM_START, layout.highRamSize(), RAM));
        }
        return map;
    }
}
