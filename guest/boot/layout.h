/* Constants shared by the assembly entry code and C. */
#ifndef BOOT_LAYOUT_H
#define BOOT_LAYOUT_H

#define GDT_CODE64 0x08         /* same selectors jkvm uses for its 64-bit entry */
#define GDT_DATA   0x10
#define GDT_CODE32 0x18         /* only used on the way up from 32-bit/real mode */

#define BSP_STACK_SIZE 16384
#define SMP_MAX_CPUS   64       /* BSP included */
#define AP_STACK_SIZE  4096

#define ENTRY_64BIT 0
#define ENTRY_PVH   1

#define PTE_P   0x1
#define PTE_W   0x2
#define PTE_PS  0x80            /* 2 MiB page in a PD entry */

#define CR0_PE  0x00000001
#define CR0_NW  0x20000000
#define CR0_CD  0x40000000
#define CR0_PG  0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100

#endif
