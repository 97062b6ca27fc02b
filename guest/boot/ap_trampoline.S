/*
 * Application processor start-up.
 *
 * ap_tramp_start..ap_tramp_end is copied at run time to a free page below 1 MiB
 * (the SIPI vector page). An AP starts there in real mode with CS = page >> 4, IP = 0.
 * Everything it references after leaving real mode is an absolute address inside the
 * image (GDT, page tables, ap_entry64), so only the 32-bit far-jump target inside the
 * copy depends on where it was copied; smp.c patches ap_tramp_far32.
 *
 * The page tables are the guest's own 4 GiB identity map (paging.c): the guest never
 * reads CR3, so it cannot borrow the VMM's.
 */
#include "boot/layout.h"

    .section .text.trampoline, "ax"

    .code16
    .globl ap_tramp_start
ap_tramp_start:
    cld                                 /* IF is already 0 after INIT */
    mov     %cs, %ax
    mov     %ax, %ds
    lgdtl   ap_tramp_gdt_ptr - ap_tramp_start
    mov     %cr0, %eax
    and     $~(CR0_CD | CR0_NW), %eax   /* INIT leaves caches disabled */
    or      $CR0_PE, %eax
    mov     %eax, %cr0
    ljmpl   *(ap_tramp_far32 - ap_tramp_start)

    .code32
    .globl ap_tramp32
ap_tramp32:
    mov     $GDT_DATA, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    mov     %eax, %fs
    mov     %eax, %gs
    mov     %cr4, %eax
    or      $CR4_PAE, %eax
    mov     %eax, %cr4
    mov     $paging_pml4, %eax
    mov     %eax, %cr3
    mov     $MSR_EFER, %ecx
    rdmsr
    or      $EFER_LME, %eax
    wrmsr
    mov     %cr0, %eax
    or      $CR0_PG, %eax
    mov     %eax, %cr0
    ljmp    $GDT_CODE64, $ap_entry64

    .balign 8
ap_tramp_gdt_ptr:                       /* 6-byte operand for lgdtl: limit, 32-bit base */
    .word 31
    .long gdt
    .balign 4
    .globl ap_tramp_far32
ap_tramp_far32:                         /* m16:32 for the indirect far jump; patched */
    .long 0                             /* page + (ap_tramp32 - ap_tramp_start) */
    .word GDT_CODE32
    .globl ap_tramp_end
ap_tramp_end:

    /* Long mode, paging on, on the guest's tables. Take a slot, then a stack. */
    .section .text
    .code64
ap_entry64:
    mov     $1, %eax
    lock xadd %eax, smp_ap_next
    cmp     $(SMP_MAX_CPUS - 1), %eax
    jae     2f                          /* more APs than slots: just park */
    mov     %eax, %edi
    lea     1(%rax), %ecx
    imul    $AP_STACK_SIZE, %ecx, %ecx
    lea     ap_stacks(%rcx), %rsp
    xor     %ebp, %ebp
    call    ap_main                     /* does not return */
2:  pause
    jmp     2b

    .section .bss
    .balign 16
ap_stacks:
    .skip (SMP_MAX_CPUS - 1) * AP_STACK_SIZE
