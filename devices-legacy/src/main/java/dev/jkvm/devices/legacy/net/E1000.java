package dev.jkvm.devices.legacy.net;

import dev.jkvm.vmm.device.Threads;
import dev.jkvm.backends.net.MacAddress;
import dev.jkvm.backends.net.NetBackend;
import dev.jkvm.memory.GuestMemory;
import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.InterruptLine;
import dev.jkvm.vmm.pci.BarKind;
import dev.jkvm.vmm.pci.PciAddress;
import dev.jkvm.vmm.pci.PciConfiguration;
import dev.jkvm.vmm.pci.PciFunction;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.concurrent.locks.LockSupport;

import static dev.jkvm.devices.legacy.net.E1000Registers.*;

/**
 * The Intel 82540EM Gigabit Ethernet controller (PCI 8086:100e, subsystem 1af4:1100 as QEMU's,
 * class 020000h) on a {@link NetBackend}: BAR0 is the 128 KiB register space, BAR1 the 64-byte I/O
 * window onto it (IOADDR/IODATA), INTA# the interrupt. Offloads are done here, in the device: the
 * backend gets plain Ethernet frames and no virtio-net header.
 *
 * <p>Pieces: {@link E1000Eeprom} (EERD and Microwire bit-banging through EECD), {@link E1000Phy}
 * (MDIC), {@link E1000Interrupts} (ICR/ICS/IMS/IMC and the INTx level), {@link E1000Filter}
 * (RAL/RAH, MTA, VFTA), {@link E1000Stats} (clear-on-read counters), {@link E1000Rx} (the receive
 * ring) and {@link E1000Tx} (transmit descriptors, checksum offload, TSO). This class holds the
 * register file, the link, the transmit ring and the threads.
 *
 * <p>Threads and the lock (this object): vCPUs access registers under it; the backend's thread
 * delivers frames under it. A write to TDT only records the tail and wakes the transmit thread
 * ({@code e1000-<id>-tx}, started at the first kick), which reads descriptors and guest buffers
 * and calls {@link NetBackend#send} without the lock, taking it only to read the ring registers
 * and to write a descriptor back, so neither a vCPU nor the backend's receive path waits for a
 * send (and a backend that delivers while sending cannot deadlock with it). Every write the
 * transmit thread makes to guest memory happens under the lock after checking that neither a
 * reset nor the driver reprogramming the ring came in between, so after {@link #reset()} returns
 * the device writes nothing into memory the next boot may use.
 *
 * <p>CTRL.RST and a PCI reset put every register back to its power-on value (the MAC back in
 * RAL0/RAH0 from the EEPROM); a PCI reset also resets the PHY. The link is up while CTRL.SLU is set
 * and neither CTRL.LRST, CTRL.PHY_RST nor the PHY's power-down holds it down; a change raises LSC.
 *
 * <p>The guest is not trusted: an index beyond its ring, a ring or a buffer outside guest RAM puts
 * that direction into an error state (it stops; counted in {@link E1000Metrics#ringFaults},
 * logged once) until CTRL.RST, a PCI reset, or the driver setting RCTL.EN / TCTL.EN again. Guest
 * memory is reached only through {@link GuestMemory}, and no exception leaves a register access.
 */
public final class E1000 implements PciFunction {
    public static final int VENDOR_INTEL = 0x8086;
    public static final int DEVICE_ID = 0x100e;
    public static final int CLASS_CODE = 0x020000;
    public static final int REVISION = 0x03;
    /** QEMU's subsystem ids for its PC devices (Red Hat, QEMU). */
    public static final int SUBSYSTEM_VENDOR = 0x1af4;
    public static final int SUBSYSTEM_ID = 0x1100;
    public static final int MMIO_BAR = 0;
    public static final int IO_BAR = 1;

    /** What a register write leaves to do once the lock is released. */
    private static final int AFTER_START_BACKEND = 1;
    private static final int AFTER_WAKE_BACKEND = 2;
    private static final int AFTER_KICK_TX = 4;

    /** Registers that only hold what the driver writes (flow control, timers, wake-up, FIFOs...): their writable bits. */
    private static final int[] PLAIN_MASK = plainRegisters();

    private final String id;
    private final GuestMemory memory;
    private final NetBackend backend;
    private final MacAddress mac;
    private final PciConfiguration config;
    private final E1000Metrics metrics = new E1000Metrics();
    private final E1000Eeprom eeprom;
    private final E1000Phy phy = new E1000Phy();
    private final E1000Interrupts interrupts = new E1000Interrupts();
    private final E1000Stats stats = new E1000Stats();
    private final E1000Filter filter = new E1000Filter();
    private final E1000Rx rx;
    private final E1000Tx tx;
    private final Arena arena = Arena.ofShared();
    private final int[] plain = new int[MMIO_SIZE / 4];
    private final BusDevice mmio = new Mmio();
    private final BusDevice io = new Io();
    private final NetBackend.Receiver receiver = this::receive;

    // ---- registers (under the lock) ----
    private int ctrl;
    private int mdic;
    private int tctl;
    private int tdbal;
    private int tdbah;
    private int tdlen;
    private int tdh;
    private int tdt;
    private int ioaddr;
    private boolean link;
    /** Why the transmit ring is unusable, or null. */
    private String txFault;
    private String lastFault;
    /** Bumped when the transmit ring is reprogrammed or the device reset: a descriptor in flight is not written back. */
    private long txEpoch;
    private long txResets;
    private boolean backendStarted;
    private boolean faultLogged;
    private boolean failureLogged;
    private boolean closed;

    // ---- the transmit thread's own ----
    private Thread txThread;
    private volatile boolean txKick;
    private final byte[] txDesc = new byte[DESCRIPTOR_BYTES];
    private final MemorySegment[] sendOne = new MemorySegment[1];
    private long txSeenEpoch;
    private long txSeenResets;

    /**
     * @param id      names the device, its thread and its log lines (the -netdev id)
     * @param backend where frames go; started when the driver first enables receive
     */
    public E1000(String id, GuestMemory memory, NetBackend backend, MacAddress mac) {
        this.id = id;
        this.memory = memory;
        this.backend = backend;
        this.mac = mac;
        this.eeprom = new E1000Eeprom(mac);
        config = new PciConfiguration(VENDOR_INTEL, DEVICE_ID, CLASS_CODE, REVISION, SUBSYSTEM_VENDOR, SUBSYSTEM_ID);
        config.addBar(MMIO_BAR, BarKind.MEMORY32, MMIO_SIZE, false);
        config.addBar(IO_BAR, BarKind.IO, IO_SIZE, false);
        config.setInterruptPin(1);
        rx = new E1000Rx(memory, filter, stats, interrupts, metrics, this::ringFault);
        tx = new E1000Tx(memory, arena, new TxSink(), metrics);
        deviceReset(true);
    }

    public E1000Metrics metrics() {
        return metrics;
    }

    /** Where the backend delivers frames; the device starts the backend with it. Tests may call it directly. */
    public NetBackend.Receiver receiver() {
        return receiver;
    }

    /** The last ring fault (an error state), or null; for tests and diagnostics. */
    public synchronized String lastFault() {
        return lastFault;
    }

    /** Whether the receive / transmit side is in the error state now. */
    public synchronized boolean receiveFaulted() {
        return rx.fault != null;
    }

    public synchronized boolean transmitFaulted() {
        return txFault != null;
    }

    public MacAddress mac() {
        return mac;
    }

    // ---- PciFunction ----

    @Override
    public String name() {
        return "e1000-" + id;
    }

    @Override
    public PciConfiguration configuration() {
        return config;
    }

    @Override
    public BusDevice bar(int index) {
        return switch (index) {
            case MMIO_BAR -> mmio;
            case IO_BAR -> io;
            default -> null;
        };
    }

    @Override
    public synchronized long readConfig(int offset, int size) {
        return config.read(offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, long value) {
        int after = 0;
        synchronized (this) {
            boolean masterBefore = busMaster();
            config.write(offset, size, value);
            interrupts.setIntxDisabled((config.get16(PciConfiguration.COMMAND) & PciConfiguration.COMMAND_INTX_DISABLE) != 0);
            if (busMaster() && !masterBefore) {
                // Transmit work may have waited for bus mastering; a refused frame may now fit.
                after = AFTER_KICK_TX | (backendStarted ? AFTER_WAKE_BACKEND : 0);
            }
        }
        afterWrite(after);
    }

    @Override
    public synchronized void attached(PciAddress address, InterruptLine intx) {
        interrupts.attach(intx);
    }

    /** A PCI reset (machine reboot): power-on state, PHY included; the backend keeps running. */
    @Override
    public void reset() {
        boolean wake;
        synchronized (this) {
            deviceReset(true);
            wake = backendStarted;
        }
        if (wake) {
            // A frame refused before the reset is offered again now, and dropped (receive is off).
            wakeBackend();
        }
    }

    /** Stops the transmit thread; the backend belongs to the machine, which closes it after this. */
    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            txEpoch++;
            interrupts.reset();
            t = txThread;
        }
        if (t != null) {
            LockSupport.unpark(t);
            Threads.joinUninterruptibly(t);
        }
        arena.close();
    }

    // ---- reset and link ----

    /** Every register to its power-on value; with {@code phyToo} the PHY as well (CTRL.RST leaves it). */
    private void deviceReset(boolean phyToo) {
        ctrl = CTRL_DEFAULT;
        mdic = 0;
        tctl = 0;
        tdbal = 0;
        tdbah = 0;
        tdlen = 0;
        tdh = 0;
        tdt = 0;
        ioaddr = 0;
        txFault = null;
        txEpoch++;
        txResets++;
        rx.reset();
        eeprom.reset();
        interrupts.reset();
        interrupts.setIntxDisabled((config.get16(PciConfiguration.COMMAND) & PciConfiguration.COMMAND_INTX_DISABLE) != 0);
        stats.reset();
        filter.reset(mac);
        Arrays.fill(plain, 0);
        plain[VET >>> 2] = 0x8100;
        plain[LEDCTL >>> 2] = 0x0602;
        plain[PBA >>> 2] = 0x00100030;
        if (phyToo) {
            phy.reset();
        }
        link = linkUp();
        phy.setLink(link);
    }

    private boolean linkUp() {
        return (ctrl & CTRL_SLU) != 0 && (ctrl & (CTRL_LRST | CTRL_PHY_RST)) == 0 && !phy.poweredDown();
    }

    private void updateLink() {
        boolean up = linkUp();
        phy.setLink(up);
        if (up != link) {
            link = up;
            interrupts.raise(ICR_LSC);
        }
    }

    private boolean busMaster() {
        return (config.get16(PciConfiguration.COMMAND) & PciConfiguration.COMMAND_BUS_MASTER) != 0;
    }

    private int vet() {
        return plain[VET >>> 2] & 0xffff;
    }

    // ---- registers ----

    private int readRegister(int offset) {
        return switch (offset) {
            case CTRL -> ctrl;
            case STATUS -> link ? STATUS_LINK_UP : STATUS_LINK_UP & ~STATUS_LU;
            case EECD -> eeprom.readEecd();
            case EERD -> eeprom.readEerd();
            case MDIC -> mdic;
            case ICR -> interrupts.readIcr();
            case ICS -> interrupts.pending();
            case IMS -> interrupts.mask();
            case RCTL -> rx.rctl;
            case RDBAL -> rx.rdbal;
            case RDBAH -> rx.rdbah;
            case RDLEN -> rx.rdlen;
            case RDH -> rx.rdh;
            case RDT -> rx.rdt;
            case TCTL -> tctl;
            case TDBAL -> tdbal;
            case TDBAH -> tdbah;
            case TDLEN -> tdlen;
            case TDH -> tdh;
            case TDT -> tdt;
            default -> {
                if (E1000Stats.contains(offset)) {
                    yield stats.read(offset);
                }
                if (E1000Filter.contains(offset)) {
                    yield filter.read(offset);
                }
                // Write-only (IMC), reserved and unmodelled registers read 0.
                yield PLAIN_MASK[offset >>> 2] != 0 ? plain[offset >>> 2] : 0;
            }
        };
    }

    /** Returns what is left to do after the lock (AFTER_*). */
    private int writeRegister(int offset, int v) {
        switch (offset) {
            case CTRL -> {
                return writeCtrl(v);
            }
            case EECD -> eeprom.writeEecd(v);
            case EERD -> eeprom.writeEerd(v);
            case MDIC -> {
                mdic = phy.access(v);
                if ((v & MDIC_INT_EN) != 0) {
                    interrupts.raise(ICR_MDAC);
                }
                updateLink();           // a PHY write may have powered it down or up
            }
            case ICR -> interrupts.clear(v);
            case ICS -> interrupts.raise(v);
            case IMS -> interrupts.enable(v);
            case IMC -> interrupts.disable(v);
            case RCTL -> {
                return writeRctl(v);
            }
            case RDBAL -> rx.rdbal = v & ~0xf;
            case RDBAH -> rx.rdbah = v;
            case RDLEN -> rx.rdlen = v & DLEN_MASK;
            case RDH -> rx.rdh = v & 0xffff;
            case RDT -> {
                rx.rdt = v & 0xffff;
                if (rx.starved) {
                    rx.starved = false;
                    return AFTER_WAKE_BACKEND;
                }
            }
            case TCTL -> {
                if ((v & TCTL_EN) != 0 && (tctl & TCTL_EN) == 0) {
                    txFault = null;     // the driver starts the transmit side afresh
                }
                tctl = v;
                return (v & TCTL_EN) != 0 ? AFTER_KICK_TX : 0;
            }
            case TDBAL -> {
                tdbal = v & ~0xf;
                txEpoch++;
            }
            case TDBAH -> {
                tdbah = v;
                txEpoch++;
            }
            case TDLEN -> {
                tdlen = v & DLEN_MASK;
                txEpoch++;
            }
            case TDH -> {
                tdh = v & 0xffff;
                txEpoch++;
            }
            case TDT -> {
                tdt = v & 0xffff;
                return AFTER_KICK_TX;
            }
            default -> {
                if (E1000Filter.contains(offset)) {
                    filter.write(offset, v);
                } else if (PLAIN_MASK[offset >>> 2] != 0) {
                    plain[offset >>> 2] = v & PLAIN_MASK[offset >>> 2];
                }
                // STATUS, the statistics and unmodelled registers ignore writes.
            }
        }
        return 0;
    }

    private int writeCtrl(int v) {
        if ((v & CTRL_RST) != 0) {
            // Self-clearing global reset: registers to power-on, the MAC reloaded from the EEPROM.
            deviceReset(false);
            return backendStarted ? AFTER_WAKE_BACKEND : 0;
        }
        if ((v & CTRL_PHY_RST) != 0 && (ctrl & CTRL_PHY_RST) == 0) {
            phy.reset();
        }
        ctrl = v;
        updateLink();
        return 0;
    }

    private int writeRctl(int v) {
        int old = rx.rctl;
        rx.rctl = v;
        if ((v & RCTL_EN) == 0 || (old & RCTL_EN) != 0) {
            return 0;
        }
        rx.fault = null;                // the driver starts the receive side afresh
        if (!backendStarted) {
            backendStarted = true;
            return AFTER_START_BACKEND;
        }
        return AFTER_WAKE_BACKEND;
    }

    /** Work that must not run under the lock: the backend and the transmit thread. */
    private void afterWrite(int after) {
        if ((after & AFTER_START_BACKEND) != 0) {
            try {
                backend.start(receiver);
            } catch (RuntimeException e) {
                failure("starting the backend", e);
            }
        } else if ((after & AFTER_WAKE_BACKEND) != 0) {
            wakeBackend();
        }
        if ((after & AFTER_KICK_TX) != 0) {
            kickTx();
        }
    }

    private void wakeBackend() {
        try {
            backend.wakeup();
        } catch (RuntimeException e) {
            failure("waking the backend", e);
        }
    }

    // ---- BAR0 and BAR1 ----

    /** A 32-bit register access; wider ones are split, narrower reads take bytes of the register. */
    private long mmioRead(int offset, int size) {
        try {
            if (size == 4 && (offset & 3) == 0) {
                return Integer.toUnsignedLong(read32(offset));
            }
            if (size == 8 && (offset & 7) == 0) {
                return Integer.toUnsignedLong(read32(offset)) | Integer.toUnsignedLong(read32(offset + 4)) << 32;
            }
            if ((offset & 3) + size <= 4) {
                long v = Integer.toUnsignedLong(read32(offset & ~3)) >>> (8 * (offset & 3));
                return v & ((1L << (8 * size)) - 1);
            }
            metrics.badAccesses.increment();        // straddles two registers
            return 0;
        } catch (RuntimeException e) {
            failure("register read at 0x" + Integer.toHexString(offset), e);
            return 0;
        }
    }

    /** Registers are written 32 bits at a time (or 64, as two); narrower writes are ignored and counted. */
    private void mmioWrite(int offset, int size, long value) {
        try {
            int after;
            if (size == 4 && (offset & 3) == 0) {
                after = write32(offset, (int) value);
            } else if (size == 8 && (offset & 7) == 0) {
                after = write32(offset, (int) value) | write32(offset + 4, (int) (value >>> 32));
            } else {
                metrics.badAccesses.increment();
                return;
            }
            afterWrite(after);
        } catch (RuntimeException e) {
            failure("register write at 0x" + Integer.toHexString(offset), e);
        }
    }

    private synchronized int read32(int offset) {
        return readRegister(offset);
    }

    private synchronized int write32(int offset, int value) {
        return closed ? 0 : writeRegister(offset, value);
    }

    private final class Mmio implements BusDevice {
        @Override
        public long read(long offset, int size) {
            return mmioRead((int) offset & (MMIO_SIZE - 1), size);
        }

        @Override
        public void write(long offset, int size, long value) {
            mmioWrite((int) offset & (MMIO_SIZE - 1), size, value);
        }
    }

    /** IOADDR (offset 0) names a register, IODATA (offset 4) accesses it; dword accesses only, the rest reads 0. */
    private final class Io implements BusDevice {
        @Override
        public long read(long offset, int size) {
            if (size != 4) {
                metrics.badAccesses.increment();
                return 0;
            }
            if (offset == IOADDR) {
                synchronized (E1000.this) {
                    return Integer.toUnsignedLong(ioaddr);
                }
            }
            if (offset == IODATA) {
                int target;
                synchronized (E1000.this) {
                    target = ioaddr;
                }
                return mmioRead(target, 4);
            }
            return 0;
        }

        @Override
        public void write(long offset, int size, long value) {
            if (size != 4) {
                metrics.badAccesses.increment();
                return;
            }
            if (offset == IOADDR) {
                synchronized (E1000.this) {
                    ioaddr = (int) value & (MMIO_SIZE - 4);
                }
            } else if (offset == IODATA) {
                int target;
                synchronized (E1000.this) {
                    target = ioaddr;
                }
                mmioWrite(target, 4, value);
            }
        }
    }

    // ---- receive ----

    private boolean receive(MemorySegment frame) {
        try {
            synchronized (this) {
                if (closed || (rx.rctl & RCTL_EN) == 0 || !link || !busMaster()) {
                    metrics.rxDroppedInactive.increment();
                    return true;
                }
                return rx.deliver(frame, ctrl, vet());
            }
        } catch (RuntimeException e) {
            failure("receive", e);
            return true;
        }
    }

    // ---- transmit ----

    private void kickTx() {
        Thread t;
        synchronized (this) {
            if (closed) {
                return;
            }
            if (txThread == null) {
                txThread = Thread.ofPlatform().name("e1000-" + id + "-tx").daemon(true).start(this::txLoop);
            }
            t = txThread;
        }
        txKick = true;
        LockSupport.unpark(t);
    }

    private void txLoop() {
        while (true) {
            synchronized (this) {
                if (closed) {
                    return;
                }
            }
            if (!txKick) {
                LockSupport.park(this);
                continue;
            }
            txKick = false;
            try {
                drainTx();
            } catch (RuntimeException e) {
                failure("transmit", e);
            }
        }
    }

    /** Processes descriptors from TDH to TDT, one at a time, until the ring is empty or stops. */
    private void drainTx() {
        while (true) {
            long desc;
            long epoch;
            boolean pad;
            boolean vme;
            int vlanType;
            synchronized (this) {
                if (closed) {
                    return;
                }
                if (txResets != txSeenResets) {
                    tx.reset();
                    txSeenResets = txResets;
                    txSeenEpoch = txEpoch;
                } else if (txEpoch != txSeenEpoch) {
                    tx.abandonPacket();
                    txSeenEpoch = txEpoch;
                }
                if ((tctl & TCTL_EN) == 0 || txFault != null || !busMaster() || tdh == tdt) {
                    return;
                }
                int count = tdlen / DESCRIPTOR_BYTES;
                if (tdh >= count || tdt >= count) {
                    txFail(String.format("TDH %d / TDT %d beyond the %d descriptors of TDLEN", tdh, tdt, count));
                    return;
                }
                long base = Integer.toUnsignedLong(tdbah) << 32 | Integer.toUnsignedLong(tdbal);
                if (!memory.contains(base, tdlen)) {
                    txFail(String.format("transmit ring 0x%x+%d is not guest RAM", base, tdlen));
                    return;
                }
                desc = base + (long) DESCRIPTOR_BYTES * tdh;
                memory.read(desc, txDesc, 0, DESCRIPTOR_BYTES);
                epoch = txEpoch;
                pad = (tctl & TCTL_PSP) != 0;
                vme = (ctrl & CTRL_VME) != 0;
                vlanType = vet();
            }
            String fault = null;
            try {
                tx.process(txDesc, pad, vme, vlanType);
            } catch (DmaFault f) {
                fault = f.getMessage();
            }
            synchronized (this) {
                if (epoch != txEpoch || closed) {
                    continue;           // reset or reprogrammed meanwhile: nothing is written back
                }
                if (fault != null) {
                    txFail(fault);
                    return;
                }
                int causes = 0;
                if ((txDesc[11] & E1000Tx.CMD_RS) != 0) {
                    memory.write8(desc + 12, (txDesc[12] & 0xf0) | E1000Tx.STA_DD);
                    causes |= ICR_TXDW;
                }
                tdh = (tdh + 1) % (tdlen / DESCRIPTOR_BYTES);
                if (tdh == tdt) {
                    causes |= ICR_TXQE;
                }
                interrupts.raise(causes);
            }
        }
    }

    private void txFail(String what) {
        txFault = what;
        tx.abandonPacket();
        ringFault("transmit: " + what);
    }

    /** Frames from {@link E1000Tx}: to the backend, or back to our own receive side in PHY loopback. */
    private final class TxSink implements E1000Tx.Sink {
        @Override
        public void transmit(MemorySegment frame) {
            boolean loopback;
            synchronized (E1000.this) {
                loopback = phy.loopback();
            }
            boolean sent;
            if (loopback) {
                sent = receive(frame);
            } else {
                sendOne[0] = frame;
                try {
                    sent = backend.send(sendOne, 1);
                } catch (RuntimeException e) {
                    sent = false;
                }
                sendOne[0] = null;
            }
            int len = (int) frame.byteSize();
            if (!sent) {
                metrics.txDroppedBackend.increment();
                return;
            }
            metrics.txPackets.increment();
            metrics.txBytes.add(len);
            boolean group = (frame.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0) & 1) != 0;
            boolean broadcast = group && frame.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 0) == -1
                    && frame.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 4) == -1;
            synchronized (E1000.this) {
                stats.increment(E1000Stats.GPTC);
                stats.increment(E1000Stats.TPT);
                stats.addOctets(E1000Stats.GOTCL, len + 4L);
                stats.addOctets(E1000Stats.TOTL, len + 4L);
                stats.countSize(E1000Stats.PTC64, len + 4);
                if (group) {
                    stats.increment(broadcast ? E1000Stats.BPTC : E1000Stats.MPTC);
                }
            }
        }

        @Override
        public void segmentationEnded(boolean sent) {
            synchronized (E1000.this) {
                stats.increment(sent ? E1000Stats.TSCTC : E1000Stats.TSCTFC);
            }
        }
    }

    // ---- failures ----

    /** A ring entered the error state: counted always, logged the first time. */
    private void ringFault(String what) {
        lastFault = what;
        metrics.ringFaults.increment();
        if (!faultLogged) {
            faultLogged = true;
            System.err.println("jkvm: e1000 " + id + ": " + what + "; that side stops until the driver resets it"
                    + " (later faults are only counted)");
        }
    }

    /** Something failed inside the model (never the guest's doing by design): counted, logged once. */
    private void failure(String where, RuntimeException e) {
        metrics.internalErrors.increment();
        boolean log;
        synchronized (this) {
            log = !failureLogged;
            failureLogged = true;
        }
        if (log) {
            System.err.println("jkvm: e1000 " + id + ": " + where + " failed: " + e);
        }
    }

    private static int[] plainRegisters() {
        int[] m = new int[MMIO_SIZE / 4];
        for (int r : new int[] {CTRL_EXT, FCAL, FCAH, FCT, TXCW, RXCW, TIPG, AIFS, LEDCTL, PBA, FCRTL, FCRTH, RXDCTL, RSRPD,
                TXDCTL, TSPMT, RXCSUM, WUC, WUFC, WUS, MANC, IPAV, WUPL}) {
            m[r >>> 2] = -1;
        }
        // Interrupt moderation timers are 16 bits; they are kept but not acted on (causes are immediate).
        for (int r : new int[] {ITR, RDTR, RADV, TIDV, TADV, VET, FCTTV}) {
            m[r >>> 2] = 0xffff;
        }
        // Wake-up filters: IPv4/IPv6 address tables, the flexible filter lengths, mask and pattern memories.
        for (int r = IP4AT; r < IP4AT + 0x20; r += 4) {
            m[r >>> 2] = -1;
        }
        for (int r = IP6AT; r < IP6AT + 0x10; r += 4) {
            m[r >>> 2] = -1;
        }
        for (int r = WUPM; r < WUPM + 0x80; r += 4) {
            m[r >>> 2] = -1;
        }
        for (int r = FFLT; r < FFLT + 0x20; r += 4) {
            m[r >>> 2] = 0x7ff;
        }
        // Packet buffer FIFO pointers (diagnostics): RDFH/RDFT/RDFHS/RDFTS/RDFPC and the transmit ones.
        for (int r = 0x2410; r <= 0x2430; r += 8) {
            m[r >>> 2] = 0x1fff;
        }
        for (int r = 0x3410; r <= 0x3430; r += 8) {
            m[r >>> 2] = 0x1fff;
        }
        return m;
    }
}
