package dev.jkvm.bench;

import java.io.ByteArrayOutputStream;

/**
 * The exit-cost guest, hand-encoded: the same instructions as benchmarks/src/main/c/exit-floor.c,
 * so that jkvm and the C floor run byte-identical guest code.
 *
 * <pre>
 *     mov ecx, N
 *     mov rbx, mmioAddress
 *   1: out noisePort, al     (PIO)   |   mov eax, [rbx]   (MMIO)
 *     dec ecx
 *     jnz 1b
 *     out stopPort, al
 *     jmp .
 * </pre>
 */
final class GuestProgram {
    /** Guest-physical address the program is loaded at and entered at. */
    static final long ENTRY = 0x100000;

    private GuestProgram() {
    }

    /** The program for {@code exits} loop exits of the given kind followed by one exit on {@code stopPort}. */
    static byte[] exitLoop(ExitKind kind, int exits, int noisePort, long mmioAddress, int stopPort) {
        if (exits <= 0) {
            throw new IllegalArgumentException("need at least one exit, got " + exits);
        }
        if (noisePort > 0xff || stopPort > 0xff) {
            throw new IllegalArgumentException("ports must fit in out imm8");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0xb9);                                       // mov ecx, imm32
        le(out, exits, 4);
        out.write(0x48);                                       // mov rbx, imm64
        out.write(0xbb);
        le(out, mmioAddress, 8);
        int loop = out.size();
        if (kind == ExitKind.MMIO) {
            out.write(0x8b);                                   // mov eax, [rbx]
            out.write(0x03);
        } else {
            out.write(0xe6);                                   // out imm8, al
            out.write(noisePort);
        }
        out.write(0xff);                                       // dec ecx
        out.write(0xc9);
        out.write(0x75);                                       // jnz loop (rel8 from the next instruction)
        out.write((loop - (out.size() + 1)) & 0xff);
        out.write(0xe6);                                       // out stopPort, al
        out.write(stopPort);
        out.write(0xeb);                                       // jmp .
        out.write(0xfe);
        return out.toByteArray();
    }

    private static void le(ByteArrayOutputStream out, long v, int bytes) {
        for (int i = 0; i < bytes; i++) {
            out.write((int) (v >>> (8 * i)) & 0xff);
        }
    }
}
