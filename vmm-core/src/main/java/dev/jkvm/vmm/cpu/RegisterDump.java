package dev.jkvm.vmm.cpu;

import dev.jkvm.kvm.KvmRegs;
import dev.jkvm.kvm.KvmRegs.Reg;
import dev.jkvm.kvm.KvmSregs;
import dev.jkvm.kvm.KvmSregs.Seg;
import dev.jkvm.kvm.KvmVcpu;
import dev.jkvm.kvm.SegmentDescriptor;

/** A vCPU's registers in the layout QEMU's "info registers" uses, for messages about a dead guest. */
public final class RegisterDump {
    private RegisterDump() {
    }

    public static String of(KvmVcpu vcpu) {
        try {
            return format(vcpu.id(), vcpu.getRegs(), vcpu.getSregs());
        } catch (RuntimeException e) {
            return "vcpu " + vcpu.id() + ": registers unavailable (" + e.getMessage() + ")";
        }
    }

    public static String format(int id, KvmRegs r, KvmSregs s) {
        StringBuilder b = new StringBuilder();
        b.append("vCPU ").append(id).append(" registers:\n");
        b.append(String.format("RAX=%016x RBX=%016x RCX=%016x RDX=%016x%n", r.get(Reg.RAX), r.get(Reg.RBX), r.get(Reg.RCX), r.get(Reg.RDX)));
        b.append(String.format("RSI=%016x RDI=%016x RBP=%016x RSP=%016x%n", r.get(Reg.RSI), r.get(Reg.RDI), r.get(Reg.RBP), r.get(Reg.RSP)));
        b.append(String.format("R8 =%016x R9 =%016x R10=%016x R11=%016x%n", r.get(Reg.R8), r.get(Reg.R9), r.get(Reg.R10), r.get(Reg.R11)));
        b.append(String.format("R12=%016x R13=%016x R14=%016x R15=%016x%n", r.get(Reg.R12), r.get(Reg.R13), r.get(Reg.R14), r.get(Reg.R15)));
        b.append(String.format("RIP=%016x RFL=%08x%n", r.get(Reg.RIP), r.get(Reg.RFLAGS)));
        for (Seg seg : Seg.values()) {
            SegmentDescriptor d = s.get(seg);
            b.append(String.format("%-3s=%04x %016x %08x type=%x p=%d dpl=%d db=%d s=%d l=%d g=%d%n", seg, d.selector(), d.base(),
                    d.limit(), d.type(), d.present() ? 1 : 0, d.dpl(), d.db() ? 1 : 0, d.s() ? 1 : 0, d.l() ? 1 : 0, d.g() ? 1 : 0));
        }
        b.append(String.format("GDT=     %016x %08x%n", s.gdtBase(), s.gdtLimit()));
        b.append(String.format("IDT=     %016x %08x%n", s.idtBase(), s.idtLimit()));
        b.append(String.format("CR0=%08x CR2=%016x CR3=%016x CR4=%08x%n", s.cr0(), s.cr2(), s.cr3(), s.cr4()));
        b.append(String.format("EFER=%016x APIC_BASE=%016x CR8=%x", s.efer(), s.apicBase(), s.cr8()));
        return b.toString();
    }
}
