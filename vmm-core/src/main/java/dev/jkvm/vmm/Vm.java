package dev.jkvm.vmm;

import dev.jkvm.kvm.Kvm;
import dev.jkvm.kvm.KvmConstants;
import dev.jkvm.kvm.KvmRegs;
import dev.jkvm.kvm.KvmSregs;
import dev.jkvm.kvm.KvmVcpu;
import dev.jkvm.kvm.KvmVm;
import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRegion;
import dev.jkvm.vmm.cpu.RegisterDump;
import dev.jkvm.vmm.device.InterruptLine;
import dev.jkvm.vmm.device.IoEventController;
import dev.jkvm.vmm.device.MsiController;
import dev.jkvm.vmm.irq.KvmIoEvents;
import dev.jkvm.vmm.irq.KvmIrqRouting;
import dev.jkvm.vmm.device.VmControl;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * A running KVM virtual machine: the VM fd with its in-kernel irqchip and PIT, guest memory slots,
 * one platform thread per vCPU, and the PIO and MMIO buses devices sit on.
 *
 * <p>Lifecycle: {@link #create}, configure vCPUs and register devices, {@link #start()}, then
 * {@link #awaitExit} or {@link #requestStop}; {@link #close()} always leaves no thread and no fd
 * behind. Guest memory belongs to the caller and outlives the VM.
 */
public final class Vm implements VmControl, AutoCloseable {
    /** Three pages VMX uses for real-mode TSS emulation, just under the BIOS ROM as QEMU places them. */
    public static final long TSS_ADDRESS = 0xfeffd000L;
    public static final long IDENTITY_MAP_ADDRESS = 0xfeffc000L;

    private final Kvm kvm;
    private final KvmVm kvmVm;
    private final GuestMemory memory;
    private final List<KvmVcpu> vcpus;
    private final List<VcpuRunner> runners = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    private final DeviceBus pio = new DeviceBus("pio");
    private final DeviceBus mmio = new DeviceBus("mmio");
    private final KvmIrqRouting irqRouting;
    private final KvmIoEvents ioEvents;
    private final InterruptLine[] irqLines = new InterruptLine[24];
    private final CompletableFuture<ExitStatus> exit = new CompletableFuture<>();
    private volatile boolean stopRequested;
    /** Pause protocol for a reset: vCPU threads park in parkIfPaused() until resume(). */
    private final Object pauseLock = new Object();
    private boolean paused;
    private int parked;
    /** Power-on state captured before any vCPU ran, restored by resetCpus(). */
    private final List<byte[]> pristineIrqchips = new ArrayList<>();
    private byte[] pristinePit;
    private final List<KvmRegs> pristineRegs = new ArrayList<>();
    private final List<KvmSregs> pristineSregs = new ArrayList<>();
    private final List<byte[]> pristineLapics = new ArrayList<>();
    private volatile Consumer<String> resetHandler;
    private final java.util.Map<Integer, java.util.BitSet> affinity = new java.util.HashMap<>();
    private boolean started;
    private boolean closed;

    private Vm(Kvm kvm, KvmVm kvmVm, GuestMemory memory, List<KvmVcpu> vcpus) {
        this.kvm = kvm;
        this.kvmVm = kvmVm;
        this.memory = memory;
        this.vcpus = vcpus;
        this.irqRouting = new KvmIrqRouting(kvmVm, kvm.checkExtension(KvmConstants.KVM_CAP_IRQ_ROUTING));
        this.ioEvents = new KvmIoEvents(kvmVm);
        for (int gsi = 0; gsi < irqLines.length; gsi++) {
            int line = gsi;
            irqLines[gsi] = level -> kvmVm.irqLine(line, level);
        }
        for (int chip : new int[] {KvmVm.IRQCHIP_PIC_MASTER, KvmVm.IRQCHIP_PIC_SLAVE, KvmVm.IRQCHIP_IOAPIC}) {
            pristineIrqchips.add(kvmVm.getIrqchip(chip));
        }
        pristinePit = kvmVm.getPit2();
        for (KvmVcpu v : vcpus) {
            pristineRegs.add(v.getRegs());
            pristineSregs.add(v.getSregs());
            pristineLapics.add(v.getLapic());
        }
    }

    /**
     * Creates the VM: TSS and identity-map pages, irqchip, PIT, one memory slot per RAM region, and
     * a vCPU for each id (the id is also the vCPU's initial APIC ID).
     */
    public static Vm create(GuestMemory memory, int[] vcpuIds) {
        Kvm kvm = Kvm.open();
        KvmVm vm = null;
        List<KvmVcpu> vcpus = new ArrayList<>();
        try {
            if (vcpuIds.length == 0) {
                throw new VmConfigurationException("a VM needs at least one vCPU");
            }
            if (vcpuIds.length > kvm.maxVcpus()) {
                throw new VmConfigurationException(vcpuIds.length + " vCPUs requested but this host's KVM allows at most " + kvm.maxVcpus());
            }
            vm = kvm.createVm();
            vm.setTssAddress(TSS_ADDRESS);
            vm.setIdentityMapAddress(IDENTITY_MAP_ADDRESS);
            vm.createIrqchip();
            vm.createPit2(KvmConstants.KVM_PIT_SPEAKER_DUMMY);
            int slot = 0;
            for (GuestRegion r : memory.regions()) {
                vm.setUserMemoryRegion(slot++, 0, r.guestAddress(), r.size(), r.host().address());
            }
            for (int id : vcpuIds) {
                vcpus.add(vm.createVcpu(id));
            }
            return new Vm(kvm, vm, memory, List.copyOf(vcpus));
        } catch (RuntimeException e) {
            for (KvmVcpu v : vcpus) {
                v.close();
            }
            if (vm != null) {
                vm.close();
            }
            kvm.close();
            throw e;
        }
    }

    public Kvm kvm() {
        return kvm;
    }

    public KvmVm kvmVm() {
        return kvmVm;
    }

    public GuestMemory memory() {
        return memory;
    }

    public List<KvmVcpu> vcpus() {
        return vcpus;
    }

    public DeviceBus pio() {
        return pio;
    }

    public DeviceBus mmio() {
        return mmio;
    }

    /** MSI vectors through GSI routing and irqfd. */
    public MsiController msi() {
        return irqRouting;
    }

    /** Doorbells through ioeventfd. */
    public IoEventController ioEvents() {
        return ioEvents;
    }

    /** An ISA IRQ or IOAPIC input, driven through the in-kernel irqchip. */
    public InterruptLine irqLine(int gsi) {
        if (gsi < 0 || gsi >= irqLines.length) {
            throw new IllegalArgumentException("GSI " + gsi + " is not an irqchip input");
        }
        return irqLines[gsi];
    }

    /** What a guest reset does; without a handler, a reset ends the VM as -no-reboot would. */
    public void setResetHandler(Consumer<String> handler) {
        this.resetHandler = handler;
    }

    /** Pins the vCPU with this index (creation order) to host CPUs; takes effect when it starts. */
    public synchronized void pinVcpu(int index, java.util.BitSet hostCpus) {
        if (index < 0 || index >= vcpus.size()) {
            throw new VmConfigurationException("vCPU " + index + " does not exist (the VM has " + vcpus.size() + ")");
        }
        if (hostCpus.isEmpty() || hostCpus.length() > Runtime.getRuntime().availableProcessors() * 4L + 1024) {
            throw new VmConfigurationException("vCPU " + index + ": empty or impossible host CPU set " + hostCpus);
        }
        affinity.put(index, (java.util.BitSet) hostCpus.clone());
    }

    /** Starts one platform thread per vCPU, named vcpu-N. */
    public synchronized void start() {
        if (started || closed) {
            throw new IllegalStateException(closed ? "VM is closed" : "VM already started");
        }
        started = true;
        for (int i = 0; i < vcpus.size(); i++) {
            KvmVcpu v = vcpus.get(i);
            VcpuRunner runner = new VcpuRunner(this, v, affinity.get(i));
            runners.add(runner);
            threads.add(Thread.ofPlatform().name("vcpu-" + v.id()).daemon(true).start(runner));
        }
    }

    boolean stopRequested() {
        return stopRequested;
    }

    /**
     * Stops every vCPU outside KVM_RUN and waits until all are parked (or gone); for resets, which
     * rewrite CPU and device state. Must not be called from a vCPU thread.
     */
    public void pause() {
        synchronized (pauseLock) {
            paused = true;
        }
        while (true) {
            synchronized (this) {
                for (VcpuRunner r : runners) {
                    r.kick();
                }
            }
            synchronized (pauseLock) {
                long live = threads.stream().filter(Thread::isAlive).count();
                if (parked >= live || stopRequested) {
                    return;
                }
                try {
                    pauseLock.wait(50);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    public void resume() {
        synchronized (pauseLock) {
            paused = false;
            pauseLock.notifyAll();
        }
    }

    /** Called by a vCPU thread after a kick: parks while a pause is in effect. */
    void parkIfPaused() {
        synchronized (pauseLock) {
            if (!paused) {
                return;
            }
            parked++;
            pauseLock.notifyAll();
            while (paused && !stopRequested) {
                try {
                    pauseLock.wait();
                } catch (InterruptedException e) {
                    break;
                }
            }
            parked--;
        }
    }

    /**
     * Puts every vCPU, both PICs, the IOAPIC and the PIT back into their power-on state, as a
     * hardware reset does: the boot vCPU runnable, the others waiting for INIT-SIPI. Only while paused.
     */
    public void resetCpusAndIrqchip() {
        for (byte[] chip : pristineIrqchips) {
            kvmVm.setIrqchip(chip);
        }
        kvmVm.setPit2(pristinePit);
        for (int i = 0; i < vcpus.size(); i++) {
            KvmVcpu v = vcpus.get(i);
            v.setSregs(pristineSregs.get(i));
            v.setRegs(pristineRegs.get(i));
            v.setFpuDefaults();
            v.setLapic(pristineLapics.get(i));
            v.setMpState(i == 0 ? KvmConstants.KVM_MP_STATE_RUNNABLE : KvmConstants.KVM_MP_STATE_INIT_RECEIVED);
        }
    }

    /** Ends the VM with this status; the first status wins. Safe from any thread, vCPU threads included. */
    public void requestStop(ExitStatus status) {
        synchronized (this) {
            if (stopRequested) {
                return;
            }
            stopRequested = true;
            for (VcpuRunner r : runners) {
                r.kick();
            }
        }
        synchronized (pauseLock) {
            pauseLock.notifyAll();
        }
        exit.complete(status);
    }

    /** The exit status, once the VM has stopped, or empty when the timeout passes first. */
    public Optional<ExitStatus> awaitExit(Duration timeout) throws InterruptedException {
        try {
            return Optional.of(exit.get(timeout.toNanos(), TimeUnit.NANOSECONDS));
        } catch (TimeoutException e) {
            return Optional.empty();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** The exit status if the VM has stopped. */
    public Optional<ExitStatus> exitStatus() {
        return Optional.ofNullable(exit.getNow(null));
    }

    void fail(String message, Throwable cause) {
        requestStop(ExitStatus.error(message + (cause != null && cause.getMessage() == null ? " " + cause : "")));
    }

    void onVcpuExit(KvmVcpu vcpu, VcpuExit e) {
        switch (e) {
            case VcpuExit.Shutdown s -> reset(s.describe());
            case VcpuExit.SystemEvent s when s.type() == KvmConstants.KVM_SYSTEM_EVENT_SHUTDOWN -> powerOff(s.describe());
            case VcpuExit.SystemEvent s when s.type() == KvmConstants.KVM_SYSTEM_EVENT_RESET -> reset(s.describe());
            default -> requestStop(ExitStatus.error("vcpu " + vcpu.id() + ": " + e.describe() + "\n" + RegisterDump.of(vcpu)));
        }
    }

    @Override
    public void debugExit(long value) {
        requestStop(ExitStatus.debugExit(value));
    }

    @Override
    public void powerOff(String detail) {
        requestStop(ExitStatus.powerOff(detail));
    }

    @Override
    public void reset(String detail) {
        Consumer<String> handler = resetHandler;
        if (handler != null) {
            handler.accept(detail);
        } else {
            requestStop(ExitStatus.reset(detail));
        }
    }

    /** Total exits handled by all vCPUs so far (read racily; for statistics). */
    public long exitCount() {
        long n = 0;
        for (VcpuRunner r : runners) {
            n += r.exits();
        }
        return n;
    }

    /** Stops the vCPUs, joins their threads, and releases every KVM fd and mapping. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        requestStop(ExitStatus.hostStop("VM closed"));
        boolean interrupted = false;
        for (int i = 0; i < threads.size(); i++) {
            Thread t = threads.get(i);
            while (t.isAlive()) {
                try {
                    t.join(100);
                } catch (InterruptedException e) {
                    interrupted = true;
                }
                // A kick can only be lost if it raced the thread's own start-up; repeating it is harmless.
                runners.get(i).kick();
            }
        }
        for (KvmVcpu v : vcpus) {
            v.close();
        }
        kvmVm.close();
        kvm.close();
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
