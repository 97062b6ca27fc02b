package dev.jkvm.vmm.cpu;

import dev.jkvm.kvm.CpuidEntry;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Consumer;

/**
 * What -cpu asks for: "host" or "max" (under KVM both mean everything the host's KVM supports),
 * then features turned on or off as QEMU writes them: "+avx2", "-x2apic", "pdpe1gb=on".
 */
public record CpuModel(String model, Set<String> enable, Set<String> disable) {
    public CpuModel {
        enable = Set.copyOf(enable);
        disable = Set.copyOf(disable);
    }

    public static CpuModel host() {
        return new CpuModel("host", Set.of(), Set.of());
    }

    /** Parses "-cpu host,+avx2,-x2apic,pdpe1gb=off"; an unknown model or feature is an IllegalArgumentException. */
    public static CpuModel parse(String text) {
        String[] parts = text.split(",");
        String model = parts[0].trim().toLowerCase(Locale.ROOT);
        if (!model.equals("host") && !model.equals("max")) {
            throw new IllegalArgumentException("CPU model '" + parts[0] + "': jkvm offers the host's CPU as KVM exposes it; use host or max");
        }
        Set<String> on = new LinkedHashSet<>();
        Set<String> off = new LinkedHashSet<>();
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].trim();
            if (p.isEmpty()) {
                continue;
            }
            String name;
            boolean enable;
            if (p.startsWith("+") || p.startsWith("-")) {
                name = p.substring(1);
                enable = p.startsWith("+");
            } else if (p.contains("=")) {
                name = p.substring(0, p.indexOf('='));
                String v = p.substring(p.indexOf('=') + 1).toLowerCase(Locale.ROOT);
                enable = switch (v) {
                    case "on", "true", "yes" -> true;
                    case "off", "false", "no" -> false;
                    default -> throw new IllegalArgumentException("CPU feature '" + name + "': expected on or off, got '" + v + "'");
                };
            } else {
                throw new IllegalArgumentException("CPU option '" + p + "': expected +feature, -feature or feature=on|off");
            }
            if (CpuFeature.named(name) == null) {
                throw new IllegalArgumentException("unknown CPU feature '" + name + "'");
            }
            (enable ? on : off).add(name);
            (enable ? off : on).remove(name);
        }
        return new CpuModel(model, on, off);
    }

    /**
     * The supported CPUID with this model's changes. A feature asked for that the host's KVM does
     * not offer is left off and reported through {@code warn}, as QEMU warns and carries on.
     */
    public List<CpuidEntry> apply(List<CpuidEntry> supported, Consumer<String> warn) {
        List<CpuidEntry> out = new ArrayList<>(supported);
        for (String name : disable) {
            for (CpuFeature f : CpuFeature.named(name)) {
                update(out, f, false);
            }
        }
        for (String name : enable) {
            for (CpuFeature f : CpuFeature.named(name)) {
                if (!isSet(supported, f)) {
                    warn.accept("host doesn't support requested feature: " + f.describe());
                }
            }
        }
        return out;
    }

    private static boolean isSet(List<CpuidEntry> entries, CpuFeature f) {
        for (CpuidEntry e : entries) {
            if (e.function() == f.leaf() && e.index() == f.subleaf()) {
                return (register(e, f.register()) & (1 << f.bit())) != 0;
            }
        }
        return false;
    }

    private static void update(List<CpuidEntry> entries, CpuFeature f, boolean on) {
        for (int i = 0; i < entries.size(); i++) {
            CpuidEntry e = entries.get(i);
            if (e.function() == f.leaf() && e.index() == f.subleaf()) {
                int v = register(e, f.register());
                v = on ? v | (1 << f.bit()) : v & ~(1 << f.bit());
                entries.set(i, switch (f.register()) {
                    case EAX -> e.withEax(v);
                    case EBX -> e.withEbx(v);
                    case ECX -> e.withEcx(v);
                    case EDX -> e.withEdx(v);
                });
            }
        }
    }

    private static int register(CpuidEntry e, CpuFeature.Register r) {
        return switch (r) {
            case EAX -> e.eax();
            case EBX -> e.ebx();
            case ECX -> e.ecx();
            case EDX -> e.edx();
        };
    }
}
