/*
 * Entry points.
 *
 *  pvh_entry32  Xen PVH contract (QEMU -kernel): 32-bit protected mode, paging off,
 *               EBX = hvm_start_info. Runs through PVM's instruction emulator, so it
 *               does the least possible: map the first 4 MiB, enter long mode, jump.
 *               C (paging_init) completes the 4 GiB identity map at full speed.
 *  entry64      ELF e_entry, jkvm's contract: long mode, paging on, everything
 *               identity mapped, flat GDT (0x08 code, 0x10 data), IF=0,
 *               RDI = RBX = hvm_start_info, RSP undefined.
 *
 * 64-bit code never loads a segment register: under PVM the guest GDT is not used
 * in 64-bit mode, so segments are set up in 32-bit code only.
 */
#include "boot/layout.h"

/* ELF note "jkvm", type 1 (JKVM_NOTE_ENTRY64): 8-byte physical address of entry64. It tells
 * jkvm that this ELF accepts the direct 64-bit entry contract above; an ELF without it (a Linux
 * vmlinux, whose e_entry expects boot_params) is entered through PVH instead. */
    .section .note.jkvm, "a"
    .balign 4
    .long 5                     /* namesz */
    .long 8                     /* descsz */
    .long 1                     /* type   */
    .asciz "jkvm"
    .balign 4
    .quad entry64

/* ELF note XEN_ELFNOTE_PHYS32_ENTRY (18): 4-byte physical address of pvh_entry32.
 * QEMU 7.2 reads 8 bytes for a 64-bit ELF, so the linker script places 4 zero bytes
 * right after the note in the file, outside the PT_NOTE segment. */
    .section .note.Xen, "a"
    .balign 4
    .long 4                     /* namesz */
    .long 4                     /* descsz */
    .long 18                    /* type   */
    .asciz "Xen"
    .long pvh_entry32

    .section .pvh_note_pad, "a", @progbits
    .long 0

    .section .text.entry, "ax"

    .code32
    .globl pvh_entry32
pvh_entry32:
    cld
    mov     %ebx, %esi                  /* keep start_info across the switch */
    lgdt    gdt_ptr
    mov     $GDT_DATA, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    mov     %eax, %fs
    mov     %eax, %gs

    /* Clear PML4 and PDPT, link PML4[0] -> PDPT[0] -> PD0, and map [0, 4 MiB) (the image
     * lives there) with two 2 MiB pages. C maps the rest of the first 4 GiB. */
    xor     %eax, %eax
    mov     $paging_pml4, %edi
    mov     $1024, %ecx
    rep stosl
    mov     $paging_pdpt, %edi
    mov     $1024, %ecx
    rep stosl
    movl    $(paging_pdpt + PTE_P + PTE_W), paging_pml4
    movl    $(paging_pd + PTE_P + PTE_W), paging_pdpt
    movl    $(0x000000 + PTE_P + PTE_W + PTE_PS), paging_pd
    movl    $0, paging_pd + 4
    movl    $(0x200000 + PTE_P + PTE_W + PTE_PS), paging_pd + 8
    movl    $0, paging_pd + 12

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
    or      $(CR0_PG | CR0_PE), %eax
    mov     %eax, %cr0
    ljmp    $GDT_CODE64, $pvh_entry64

    .code64
pvh_entry64:
    mov     %esi, %r12d                 /* zero-extends: high halves are undefined here */
    mov     $ENTRY_PVH, %r13d
    jmp     common64

    .globl entry64
entry64:
    mov     %rdi, %r12
    mov     $ENTRY_64BIT, %r13d

common64:
    cld
    /* .bss is not zeroed here: an ELF loader zeroes p_memsz beyond p_filesz (jkvm, QEMU,
     * and both again on a reboot), and touching its 1.6 MB of NIC and disk buffers here
     * would fault in every page up front, a third of start-up on a shadow-paging host. */
    mov     $(bsp_stack + BSP_STACK_SIZE), %esp   /* image is below 4 MiB */
    xor     %ebp, %ebp
    mov     %r12, %rdi
    mov     %r13d, %esi
    call    boot_main
1:  pause                               /* boot_main does not return; never hlt */
    jmp     1b

    .section .data
    .balign 16
    .globl gdt
gdt:
    .quad 0
    .quad 0x00af9b000000ffff            /* 0x08: 64-bit code */
    .quad 0x00cf93000000ffff            /* 0x10: flat data */
    .quad 0x00cf9b000000ffff            /* 0x18: flat 32-bit code */
gdt_end:
    .globl gdt_ptr
gdt_ptr:
    .word gdt_end - gdt - 1
    .quad gdt

    .section .bss
    .balign 16
bsp_stack:
    .skip BSP_STACK_SIZE
