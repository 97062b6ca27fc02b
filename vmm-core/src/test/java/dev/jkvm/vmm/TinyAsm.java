package dev.jkvm.vmm;

import java.io.ByteArrayOutputStream;

/** Hand-encoded x86-64 instructions, enough for small guests that exercise the exit paths. */
final class TinyAsm {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    private TinyAsm b(int... bytes) {
        for (int x : bytes) {
            out.write(x);
        }
        return this;
    }

    private TinyAsm imm32(long v) {
        return b((int) v & 0xff, (int) (v >>> 8) & 0xff, (int) (v >>> 16) & 0xff, (int) (v >>> 24) & 0xff);
    }

    private TinyAsm imm64(long v) {
        return imm32(v).imm32(v >>> 32);
    }

    TinyAsm movDx(int v) {
        return b(0x66, 0xba, v & 0xff, (v >>> 8) & 0xff);
    }

    TinyAsm movAl(int v) {
        return b(0xb0, v & 0xff);
    }

    TinyAsm movEax(long v) {
        return b(0xb8).imm32(v);
    }

    TinyAsm movEcx(long v) {
        return b(0xb9).imm32(v);
    }

    TinyAsm movRbx(long v) {
        return b(0x48, 0xbb).imm64(v);
    }

    TinyAsm movRsi(long v) {
        return b(0x48, 0xbe).imm64(v);
    }

    TinyAsm movRdi(long v) {
        return b(0x48, 0xbf).imm64(v);
    }

    TinyAsm outDxAl() {
        return b(0xee);
    }

    TinyAsm outDxAx() {
        return b(0x66, 0xef);
    }

    TinyAsm outDxEax() {
        return b(0xef);
    }

    TinyAsm inEaxDx() {
        return b(0xed);
    }

    TinyAsm outImmAl(int port) {
        return b(0xe6, port);
    }

    TinyAsm repOutsb() {
        return b(0xf3, 0x6e);
    }

    TinyAsm repInsb() {
        return b(0xf3, 0x6c);
    }

    TinyAsm repOutsw() {
        return b(0xf3, 0x66, 0x6f);
    }

    /** mov eax, [rbx] */
    TinyAsm loadEaxFromRbx() {
        return b(0x8b, 0x03);
    }

    /** mov [rbx], eax */
    TinyAsm storeEaxToRbx() {
        return b(0x89, 0x03);
    }

    /** mov rax, [rbx] */
    TinyAsm loadRaxFromRbx() {
        return b(0x48, 0x8b, 0x03);
    }

    /** mov [rbx], rax */
    TinyAsm storeRaxToRbx() {
        return b(0x48, 0x89, 0x03);
    }

    TinyAsm movRax(long v) {
        return b(0x48, 0xb8).imm64(v);
    }

    /** Loop body helper: dec ecx; jnz back to {@code target} (an offset returned by {@link #here()}). */
    TinyAsm decEcxJnz(int target) {
        b(0xff, 0xc9);
        int rel = target - (out.size() + 2);
        return b(0x75, rel & 0xff);
    }

    TinyAsm cli() {
        return b(0xfa);
    }

    TinyAsm hlt() {
        return b(0xf4);
    }

    TinyAsm jmpSelf() {
        return b(0xeb, 0xfe);
    }

    int here() {
        return out.size();
    }

    byte[] bytes() {
        return out.toByteArray();
    }
}
