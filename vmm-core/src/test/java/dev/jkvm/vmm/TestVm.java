package dev.jkvm.vmm;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRam;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.memory.RamOptions;
import dev.jkvm.vmm.boot.X86BootCpu;

/** A small VM whose boot vCPU starts in long mode at 1 MiB, running the given code. */
final class TestVm implements AutoCloseable {
    static final long CODE = 0x100000;
    final GuestRam ram;
    final GuestMemory memory;
    final Vm vm;

    TestVm(byte[] code, int vcpus) {
        PcMemoryLayout layout = PcMemoryLayout.forRamSize(4 << 20);
        ram = GuestRam.allocate(layout.ramSize(), RamOptions.DEFAULT);
        try {
            memory = GuestMemory.of(ram, layout);
            memory.write(CODE, code, 0, code.length);
            int[] ids = new int[vcpus];
            for (int i = 0; i < vcpus; i++) {
                ids[i] = i;
            }
            vm = Vm.create(memory, ids);
            X86BootCpu.enterLongMode(vm.vcpus().get(0), memory, layout.topOfRam(), CODE, 0);
        } catch (RuntimeException e) {
            ram.close();
            throw e;
        }
    }

    @Override
    public void close() {
        vm.close();
        ram.close();
    }
}
