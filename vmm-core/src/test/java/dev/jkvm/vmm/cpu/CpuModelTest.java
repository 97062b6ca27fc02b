package dev.jkvm.vmm.cpu;

import dev.jkvm.kvm.CpuidEntry;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuModelTest {
    /** Leaf 1 with x2apic (ECX 21) and avx (ECX 28) on; leaf 7 with avx2 (EBX 5) off; KVM leaf with kvmclock bits 0 and 3. */
    private static List<CpuidEntry> supported() {
        return List.of(
                new CpuidEntry(1, 0, 0, 0, 0, (1 << 21) | (1 << 28), 0),
                new CpuidEntry(7, 0, 1, 0, 0, 0, 0),
                new CpuidEntry(0x40000001, 0, 0, 0b1001, 0, 0, 0));
    }

    @Test
    void parsesQemuSyntax() {
        CpuModel m = CpuModel.parse("host,+avx2,-x2apic,pdpe1gb=on,avx=off");
        assertEquals("host", m.model());
        assertEquals(Set.of("avx2", "pdpe1gb"), m.enable());
        assertEquals(Set.of("x2apic", "avx"), m.disable());
        assertEquals(Set.of("x2apic"), CpuModel.parse("max,+x2apic,-x2apic").disable(), "the last word wins");
        assertTrue(CpuModel.parse("max,+x2apic,-x2apic").enable().isEmpty());
    }

    @Test
    void rejectsUnknownModelsFeaturesAndValues() {
        assertThrows(IllegalArgumentException.class, () -> CpuModel.parse("Skylake-Server"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CpuModel.parse("host,+frobnicate"));
        assertTrue(e.getMessage().contains("frobnicate"));
        assertThrows(IllegalArgumentException.class, () -> CpuModel.parse("host,avx=maybe"));
        assertThrows(IllegalArgumentException.class, () -> CpuModel.parse("host,avx"));
    }

    @Test
    void disablingClearsEveryBitOfTheNameAndLeavesTheRest() {
        List<CpuidEntry> out = CpuModel.parse("host,-x2apic,-kvmclock").apply(supported(), w -> { });
        assertEquals(1 << 28, out.get(0).ecx(), "x2apic off, avx kept");
        assertEquals(0, out.get(2).eax(), "kvmclock names both KVM clock bits");
    }

    @Test
    void askingForWhatTheHostLacksWarnsLikeQemu() {
        List<String> warnings = new ArrayList<>();
        List<CpuidEntry> out = CpuModel.parse("host,+avx2,+x2apic").apply(supported(), warnings::add);
        assertEquals(List.of("host doesn't support requested feature: CPUID.07H:EBX.avx2 [bit 5]"), warnings);
        assertEquals(0, out.get(1).ebx(), "an unsupported feature stays off");
    }

    @Test
    void everyFeatureNameMapsToABit() {
        for (String n : List.of("sse4.2", "sse4_2", "pni", "sse3", "lm", "nx", "pdpe1gb", "hypervisor", "arch-capabilities", "kvm-pv-eoi")) {
            assertTrue(CpuFeature.named(n) != null, n);
        }
        assertEquals(2, CpuFeature.named("kvmclock").length);
    }
}
