package dev.jkvm.machine;

/** A -device the machine adds on top of its built-in ones. */
public sealed interface DeviceConfig {
    /**
     * -device virtio-blk-pci: a virtio block device for the -drive with this id.
     *
     * @param numQueues queues, or 0 for one per vCPU (QEMU's default)
     * @param slot the PCI slot (QEMU's addr=), or -1 for the first free one
     */
    record VirtioBlkPci(String drive, int numQueues, int queueSize, int slot, String serial) implements DeviceConfig {
        public VirtioBlkPci {
            if (numQueues < 0 || numQueues > 64) {
                throw new MachineException("virtio-blk-pci: num-queues=" + numQueues + " must be from 1 to 64");
            }
            if (queueSize < 4 || queueSize > 1024 || Integer.bitCount(queueSize) != 1) {
                throw new MachineException("virtio-blk-pci: queue-size=" + queueSize + " must be a power of two from 4 to 1024");
            }
            if (slot < -1 || slot > 31) {
                throw new MachineException("virtio-blk-pci: addr=" + slot + " is not a PCI slot (0-31)");
            }
        }
    }

    /** QEMU's isa-debug-exit: a write of v to iobase ends the VM with status (v << 1) | 1. */
    record IsaDebugExit(int iobase, int iosize) implements DeviceConfig {
        public IsaDebugExit {
            if (iosize < 1 || iosize > 8 || iobase < 0 || iobase + iosize > 0x10000) {
                throw new MachineException(String.format("isa-debug-exit: iobase=0x%x iosize=%d does not fit in the 64 KiB I/O space", iobase, iosize));
            }
        }
    }

    /**
     * -device virtio-net-pci: a virtio NIC on a -netdev.
     *
     * @param mac      the MAC address ("52:54:00:..."), or null for QEMU's next default
     * @param mq       multiqueue: as many queue pairs as the netdev has queues
     * @param slot     the PCI slot (addr=), or -1 for the first free one
     */
    record VirtioNetPci(String netdev, String mac, boolean mq, int slot) implements DeviceConfig {
    }

    /** -device e1000: an Intel 82540EM NIC on a -netdev. */
    record E1000(String netdev, String mac, int slot) implements DeviceConfig {
    }

    /**
     * A drive on the PIIX3 IDE controller (-hda..-hdd, -cdrom, -drive if=ide): the -drive with this id
     * at channel {@code bus} (0 primary, 1 secondary), {@code unit} (0 master, 1 slave), as an ATA hard
     * disk or, with {@code cdrom}, an ATAPI CD-ROM drive holding a read-only medium.
     */
    record IdeDrive(String drive, int bus, int unit, boolean cdrom) implements DeviceConfig {
        public IdeDrive {
            if (bus < 0 || bus > 1 || unit < 0 || unit > 1) {
                throw new MachineException("IDE drive '" + drive + "': bus=" + bus + " unit=" + unit
                        + " does not exist (bus 0-1, unit 0-1: index 0-3)");
            }
        }

        /** QEMU's index: 2 * bus + unit (-hda 0, -hdb 1, -hdc 2, -hdd 3). */
        public int index() {
            return 2 * bus + unit;
        }
    }
}
