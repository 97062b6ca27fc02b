package dev.jkvm.vmm.irq;

import dev.jkvm.kvm.KvmVm;
import dev.jkvm.vmm.device.EventFd;
import dev.jkvm.vmm.device.IoEventController;

/** Doorbells through KVM_IOEVENTFD: a matching guest write signals an eventfd inside the kernel. */
public final class KvmIoEvents implements IoEventController {
    private final KvmVm vm;

    public KvmIoEvents(KvmVm vm) {
        this.vm = vm;
    }

    @Override
    public Registration register(long address, int length, boolean pio, Long dataMatch, EventFd eventFd) {
        vm.ioeventfd(eventFd.fd(), address, length, pio, dataMatch, true);
        return new Registration() {
            private boolean closed;

            @Override
            public synchronized void close() {
                if (!closed) {
                    closed = true;
                    try {
                        vm.ioeventfd(eventFd.fd(), address, length, pio, dataMatch, false);
                    } catch (RuntimeException vmAlreadyGone) {
                        // KVM dropped every ioeventfd when the VM fd closed
                    }
                }
            }
        };
    }
}
