/* The few libc string routines the guest needs. gcc may also emit calls to
 * memcpy/memset/memmove/memcmp on its own, so these must exist. */
#ifndef LIB_STRING_H
#define LIB_STRING_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* Parses a decimal or 0x-prefixed hex number spanning all of s[0..len). */
bool parse_u64(const char *s, size_t len, uint64_t *out);

#endif
