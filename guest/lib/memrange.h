/* Physical ranges the guest is using (its image, the boot data, the AP trampoline),
 * which memory-scribbling tests must leave alone. */
#ifndef LIB_MEMRANGE_H
#define LIB_MEMRANGE_H

#include <stdbool.h>
#include <stdint.h>

void memrange_reserve(uint64_t base, uint64_t size);
/* true if [base, base + size) overlaps a reserved range. */
bool memrange_is_reserved(uint64_t base, uint64_t size);

/* A free piece of type-1 RAM of `size` bytes, 2 MiB aligned, identity mapped, outside the
 * image and every reserved range, reserved from now on; 0 if there is none. For buffers a
 * test needs only while it runs (benchmark rings), which would not fit in the image. */
uint64_t memrange_alloc_ram(uint64_t size);

/* The loaded image, [__image_start, __image_end) from the linker script. */
uint64_t image_start(void);
uint64_t image_end(void);

#endif
