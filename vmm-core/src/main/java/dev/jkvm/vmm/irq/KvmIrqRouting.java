package dev.jkvm.vmm.irq;

import dev.jkvm.kvm.KvmVm;
import dev.jkvm.vmm.device.EventFd;
import dev.jkvm.vmm.device.MsiController;
import dev.jkvm.vmm.device.MsiVector;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.TreeMap;

/**
 * The VM's GSI routing table and the MSI vectors built on it. KVM_SET_GSI_ROUTING replaces the
 * whole table, so this keeps all of it: the irqchip routes of a PC (as QEMU sets them, with the
 * PIT's GSI 0 on IOAPIC pin 2 to match the MADT override) plus one MSI route per routed vector.
 * A vector is an eventfd bound to its GSI with KVM_IRQFD, so raising it is one write.
 */
public final class KvmIrqRouting implements MsiController {
    /** GSIs 0-23 are the irqchip's; MSI vectors take the ones above. */
    public static final int FIRST_MSI_GSI = 24;
    private static final int IRQCHIP_PIC_MASTER = 0;
    private static final int IRQCHIP_PIC_SLAVE = 1;
    private static final int IRQCHIP_IOAPIC = 2;
    private static final int IOAPIC_PINS = 24;

    private final KvmVm vm;
    private final int maxRoutes;
    private final TreeMap<Integer, KvmVm.MsiRoute> msiRoutes = new TreeMap<>();
    private final BitSet usedGsis = new BitSet();

    public KvmIrqRouting(KvmVm vm, int maxRoutes) {
        this.vm = vm;
        this.maxRoutes = maxRoutes;
        commit();
    }

    private static List<KvmVm.GsiRoute> irqchipRoutes() {
        List<KvmVm.GsiRoute> routes = new ArrayList<>();
        for (int gsi = 0; gsi < 16; gsi++) {
            if (gsi != 2) {
                routes.add(new KvmVm.IrqchipRoute(gsi, gsi < 8 ? IRQCHIP_PIC_MASTER : IRQCHIP_PIC_SLAVE, gsi % 8));
            }
        }
        for (int gsi = 0; gsi < IOAPIC_PINS; gsi++) {
            routes.add(new KvmVm.IrqchipRoute(gsi, IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi));
        }
        return routes;
    }

    private synchronized void commit() {
        List<KvmVm.GsiRoute> all = irqchipRoutes();
        all.addAll(msiRoutes.values());
        vm.setGsiRouting(all);
    }

    private synchronized int allocateGsi() {
        int gsi = usedGsis.nextClearBit(FIRST_MSI_GSI);
        if (gsi >= maxRoutes) {
            throw new IllegalStateException("out of GSIs for MSI vectors (" + maxRoutes + ")");
        }
        usedGsis.set(gsi);
        return gsi;
    }

    @Override
    public MsiVector allocate(String owner) {
        return new Vector(allocateGsi(), owner);
    }

    /** Routed MSI vectors, for tests and diagnostics. */
    public synchronized int routedVectors() {
        return msiRoutes.size();
    }

    private final class Vector implements MsiVector {
        private final int gsi;
        private final String owner;
        private final EventFd eventFd = new EventFd();
        private volatile boolean bound;
        private boolean closed;

        Vector(int gsi, String owner) {
            this.gsi = gsi;
            this.owner = owner;
        }

        @Override
        public void route(long address, int data) {
            synchronized (KvmIrqRouting.this) {
                if (closed) {
                    return;
                }
                msiRoutes.put(gsi, new KvmVm.MsiRoute(gsi, address, data));
                commit();
                if (!bound) {
                    // The irqfd is bound only once a route exists, so an unprogrammed vector injects nothing.
                    vm.irqfd(eventFd.fd(), gsi, true);
                    bound = true;
                }
            }
        }

        @Override
        public void trigger() {
            if (bound) {
                eventFd.signal();
            }
        }

        @Override
        public EventFd eventFd() {
            return eventFd;
        }

        @Override
        public void close() {
            synchronized (KvmIrqRouting.this) {
                if (closed) {
                    return;
                }
                closed = true;
                if (bound) {
                    try {
                        vm.irqfd(eventFd.fd(), gsi, false);
                    } catch (RuntimeException vmAlreadyGone) {
                        // the VM fd closed first; KVM dropped the irqfd with it
                    }
                }
                if (msiRoutes.remove(gsi) != null) {
                    try {
                        commit();
                    } catch (RuntimeException vmAlreadyGone) {
                        // as above
                    }
                }
                usedGsis.clear(gsi);
                eventFd.close();
            }
        }

        @Override
        public String toString() {
            return "MSI vector GSI " + gsi + " of " + owner;
        }
    }
}
