/*
 * exit-floor: the cheapest KVM_RUN loop we know how to write, as the floor that jkvm's exit path
 * is compared against (benchmarks/run-exit-cost.sh builds and runs it).
 *
 * The guest is a handful of 64-bit instructions entered directly in long mode (no firmware, no
 * 32-bit code, which PVM would emulate):
 *
 *     mov ecx, N
 *     mov rbx, MMIO_GPA
 *   1: out 0x80, al            (pio mode)   |   mov eax, [rbx]   (mmio mode)
 *     dec ecx
 *     jnz 1b
 *     out 0xf4, al             (the "debug exit" the host loop stops on)
 *     jmp .
 *
 * so it makes N exits of the chosen kind and one final exit. The host loop does per exit only
 * what any VMM must: KVM_RUN, look at exit_reason, answer the access (an MMIO read gets zeros).
 *
 * Usage: exit-floor pio|mmio [N] [--irqchip] [--sigmask]
 *   --irqchip  also create the in-kernel irqchip and PIT, as jkvm's Vm.create does
 *   --sigmask  also install a KVM_SET_SIGNAL_MASK, as jkvm's vCPU threads do (for kicks)
 * Prints: exit-floor kind=pio exits=N+1 ns_per_exit=X cpu_ns_per_exit=Y
 * Time runs from just before the first KVM_RUN to the return of the one that hit port 0xf4;
 * ns_per_exit is wall-clock time, cpu_ns_per_exit the thread's CPU time (CLOCK_THREAD_CPUTIME_ID),
 * which leaves out the time other processes on a shared machine held the CPU.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum {
    RAM_BYTES = 16 << 20,
    GDT_GPA = 0x1000,
    PML4_GPA = 0x9000,
    PDPT_GPA = 0xa000,
    PD_GPA = 0xb000, /* four page directories: 0xb000-0xefff map the low 4 GiB */
    CODE_GPA = 0x100000,
    NOISE_PORT = 0x80,
    STOP_PORT = 0xf4,
};
static const uint64_t MMIO_GPA = 0xd0000000ull; /* in the PCI hole: no memory slot, so every read exits */

static void fail(const char *what) {
    fprintf(stderr, "exit-floor: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int xioctl(int fd, unsigned long req, void *arg, const char *what) {
    int r = ioctl(fd, req, arg);
    if (r < 0) fail(what);
    return r;
}

/* Emits the guest program; returns its length. */
static size_t assemble(uint8_t *p, int mmio, uint32_t n) {
    uint8_t *start = p;
    *p++ = 0xb9; memcpy(p, &n, 4); p += 4;                   /* mov ecx, imm32 */
    *p++ = 0x48; *p++ = 0xbb; memcpy(p, &MMIO_GPA, 8); p += 8; /* mov rbx, imm64 */
    uint8_t *loop = p;
    if (mmio) {
        *p++ = 0x8b; *p++ = 0x03;                            /* mov eax, [rbx] */
    } else {
        *p++ = 0xe6; *p++ = NOISE_PORT;                      /* out imm8, al */
    }
    *p++ = 0xff; *p++ = 0xc9;                                /* dec ecx */
    *p++ = 0x75; *p = (uint8_t)(loop - (p + 1)); p++;        /* jnz loop */
    *p++ = 0xe6; *p++ = STOP_PORT;                           /* out 0xf4, al */
    *p++ = 0xeb; *p++ = 0xfe;                                /* jmp . */
    return (size_t)(p - start);
}

static void write_page_tables(uint8_t *ram) {
    uint64_t *pml4 = (uint64_t *)(ram + PML4_GPA);
    uint64_t *pdpt = (uint64_t *)(ram + PDPT_GPA);
    uint64_t *pd = (uint64_t *)(ram + PD_GPA);
    pml4[0] = PDPT_GPA | 0x3;
    for (uint64_t g = 0; g < 4; g++) pdpt[g] = (PD_GPA + g * 0x1000) | 0x3;
    for (uint64_t i = 0; i < 4 * 512; i++) pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB */
    uint64_t *gdt = (uint64_t *)(ram + GDT_GPA);
    gdt[0] = 0;
    gdt[1] = 0x00af9b000000ffffull; /* 0x08: 64-bit code, DPL 0 */
    gdt[2] = 0x00cf93000000ffffull; /* 0x10: flat data */
}

static void enter_long_mode(int vcpu) {
    struct kvm_sregs s;
    xioctl(vcpu, KVM_GET_SREGS, &s, "KVM_GET_SREGS");
    struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 0xb,
                               .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1};
    struct kvm_segment data = {.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0x3,
                               .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1};
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.gdt.base = GDT_GPA;
    s.gdt.limit = 3 * 8 - 1;
    s.idt.base = 0;
    s.idt.limit = 0;
    s.cr3 = PML4_GPA;
    s.cr4 = 1u << 5;                                       /* PAE */
    s.cr0 = (1u << 0) | (1u << 4) | (1u << 5) | (1u << 31); /* PE, ET, NE, PG */
    s.efer = (1u << 8) | (1u << 10);                       /* LME, LMA */
    xioctl(vcpu, KVM_SET_SREGS, &s, "KVM_SET_SREGS");
    struct kvm_regs r;
    memset(&r, 0, sizeof r);
    r.rip = CODE_GPA;
    r.rflags = 0x2;
    xioctl(vcpu, KVM_SET_REGS, &r, "KVM_SET_REGS");
}

/* Blocks SIGRTMIN+3 in this thread and lets KVM unblock it only inside KVM_RUN, as jkvm does. */
static void install_signal_mask(int vcpu) {
    sigset_t kick, now;
    sigemptyset(&kick);
    sigaddset(&kick, SIGRTMIN + 3);
    pthread_sigmask(SIG_BLOCK, &kick, NULL);
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    sigdelset(&now, SIGRTMIN + 3);
    struct { struct kvm_signal_mask head; uint8_t bits[8]; } m;
    m.head.len = 8;
    memcpy(m.bits, &now, 8);
    xioctl(vcpu, KVM_SET_SIGNAL_MASK, &m, "KVM_SET_SIGNAL_MASK");
}

int main(int argc, char **argv) {
    int mmio = -1, irqchip = 0, sigmask = 0;
    uint32_t n = 200000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "pio") == 0) mmio = 0;
        else if (strcmp(argv[i], "mmio") == 0) mmio = 1;
        else if (strcmp(argv[i], "--irqchip") == 0) irqchip = 1;
        else if (strcmp(argv[i], "--sigmask") == 0) sigmask = 1;
        else if (argv[i][0] >= '1' && argv[i][0] <= '9') n = (uint32_t)strtoul(argv[i], NULL, 10);
        else mmio = -1, i = argc;
    }
    if (mmio < 0 || n == 0) {
        fprintf(stderr, "usage: exit-floor pio|mmio [N] [--irqchip] [--sigmask]\n");
        return 2;
    }

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) fail("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) fail("KVM_CREATE_VM");
    if (irqchip) {
        xioctl(vm, KVM_CREATE_IRQCHIP, NULL, "KVM_CREATE_IRQCHIP");
        struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
        xioctl(vm, KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2");
    }
    uint8_t *ram = mmap(NULL, RAM_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) fail("mmap guest RAM");
    struct kvm_userspace_memory_region slot = {.slot = 0, .guest_phys_addr = 0, .memory_size = RAM_BYTES,
                                               .userspace_addr = (uintptr_t)ram};
    xioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot, "KVM_SET_USER_MEMORY_REGION");
    write_page_tables(ram);
    assemble(ram + CODE_GPA, mmio, n);

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) fail("KVM_CREATE_VCPU");
    int run_bytes = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_bytes < 0) fail("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, (size_t)run_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) fail("mmap kvm_run");
    enter_long_mode(vcpu);
    if (sigmask) install_signal_mask(vcpu);

    uint64_t exits = 0, handled = 0;
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            fail("KVM_RUN");
        }
        exits++;
        if (run->exit_reason == KVM_EXIT_IO) {
            if (run->io.port == STOP_PORT) break;
            handled++;
        } else if (run->exit_reason == KVM_EXIT_MMIO) {
            if (!run->mmio.is_write) memset(run->mmio.data, 0, sizeof run->mmio.data);
            handled++;
        } else {
            fprintf(stderr, "exit-floor: unexpected exit reason %u after %llu exits\n", run->exit_reason,
                    (unsigned long long)exits);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    if (handled != n) {
        fprintf(stderr, "exit-floor: expected %u exits of the loop, saw %llu\n", n, (unsigned long long)handled);
        return 1;
    }
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec);
    printf("exit-floor kind=%s exits=%llu ns_per_exit=%.1f cpu_ns_per_exit=%.1f\n", mmio ? "mmio" : "pio",
           (unsigned long long)exits, ns / (double)exits, cpu / (double)exits);
    return 0;
}
