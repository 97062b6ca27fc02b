package dev.jkvm.kvm;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.UnionLayout;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Proves the Java view of the KVM ABI against the host's linux/kvm.h: a C program, generated from
 * the Java layouts and constants, is compiled against the header and prints sizeof/offsetof and
 * every ioctl number; each must equal what Java computed.
 */
class KvmAbiTest {
    private static final Map<String, Long> expected = new LinkedHashMap<>();
    private static final Map<String, Long> actual = new LinkedHashMap<>();

    @BeforeAll
    static void compileAndRunProbe(@TempDir Path dir) throws Exception {
        StringBuilder c = new StringBuilder("""
                #include <linux/kvm.h>
                #include <stddef.h>
                #include <stdio.h>
                int main(void) {
                """);
        for (Field f : KvmStructs.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.get(null) instanceof StructLayout s && s.name().orElse("").startsWith("kvm_")) {
                String struct = s.name().get();
                emit(c, struct + " sizeof", "sizeof(struct " + struct + ")", s.byteSize());
                walk(c, struct, s, "", 0);
            }
        }
        for (Field f : KvmIoctl.class.getFields()) {
            if (f.getType() == long.class) {
                emit(c, f.getName(), "(unsigned long long)" + f.getName(), f.getLong(null));
            }
        }
        for (Field f : KvmConstants.class.getFields()) {
            if (f.getType() == int.class) {
                emit(c, f.getName(), "(unsigned long long)" + f.getName(), f.getInt(null));
            }
        }
        c.append("return 0;\n}\n");
        Path src = dir.resolve("abi.c");
        Path exe = dir.resolve("abi");
        Files.writeString(src, c);
        run(List.of("gcc", "-O0", "-o", exe.toString(), src.toString()));
        for (String line : run(List.of(exe.toString())).split("\n")) {
            int sp = line.lastIndexOf(' ');
            actual.put(line.substring(0, sp), Long.parseUnsignedLong(line.substring(sp + 1)));
        }
    }

    /** Emits offset and size lines for every named member; C's anonymous unions are named "anon_*" here. */
    private static void walk(StringBuilder c, String struct, GroupLayout group, String cPath, long base) {
        for (MemoryLayout m : group.memberLayouts()) {
            if (m instanceof PaddingLayout || m.name().isEmpty()) {
                continue;
            }
            String name = m.name().get();
            long off = base + group.byteOffset(MemoryLayout.PathElement.groupElement(name));
            boolean anonymous = name.startsWith("anon_");
            String path = anonymous ? cPath : (cPath.isEmpty() ? name : cPath + "." + name);
            if (!anonymous) {
                emit(c, struct + "." + path + " offset", "offsetof(struct " + struct + ", " + path + ")", off);
                emit(c, struct + "." + path + " size", "sizeof(((struct " + struct + " *)0)->" + path + ")", m.byteSize());
            }
            if (m instanceof StructLayout || m instanceof UnionLayout) {
                walk(c, struct, (GroupLayout) m, path, off);
            }
        }
    }

    private static void emit(StringBuilder c, String key, String cExpr, long javaValue) {
        expected.put(key, javaValue);
        c.append("printf(\"%s %llu\\n\", \"").append(key).append("\", (unsigned long long)(").append(cExpr).append("));\n");
    }

    private static String run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "timed out: " + cmd);
        assertEquals(0, p.exitValue(), cmd + " failed:\n" + out);
        return out;
    }

    @Test
    void everyLayoutSizeAndOffsetMatchesTheHeader() {
        List<String> mismatches = new ArrayList<>();
        expected.forEach((k, v) -> {
            if (!k.startsWith("KVM_") && !v.equals(actual.get(k))) {
                mismatches.add(k + ": java=" + v + " header=" + actual.get(k));
            }
        });
        assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        assertTrue(expected.keySet().stream().filter(k -> k.endsWith(" offset")).count() > 100, "the walk covered the structs");
    }

    @Test
    void everyIoctlNumberAndConstantMatchesTheHeader() {
        List<String> mismatches = new ArrayList<>();
        expected.forEach((k, v) -> {
            if (k.startsWith("KVM_") && actual.get(k) != (v & 0xffffffffffffffffL)) {
                long a = actual.get(k);
                if (a != v && (int) a != v.intValue()) {
                    mismatches.add(k + ": java=0x" + Long.toHexString(v) + " header=0x" + Long.toHexString(a));
                }
            }
        });
        assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
        assertEquals(0xAE80L, actual.get("KVM_RUN"));
    }

    @Test
    void runOffsetsUsedByTheExitLoopMatch() {
        assertEquals(actual.get("kvm_run.exit_reason offset"), KvmStructs.RUN_EXIT_REASON);
        assertEquals(actual.get("kvm_run.io.data_offset offset"), KvmStructs.RUN_IO_DATA_OFFSET);
        assertEquals(actual.get("kvm_run.mmio.is_write offset"), KvmStructs.RUN_MMIO_IS_WRITE);
        assertEquals(actual.get("kvm_run.system_event.data offset"), KvmStructs.RUN_SYSTEM_EVENT_DATA);
    }
}
