/* Kernel-style command line: words separated by spaces, each `key=value` or a bare `key`.
 * Parsed once into a private copy; lookups return NUL-terminated strings. */
#ifndef LIB_CMDLINE_H
#define LIB_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMDLINE_MAX 1024
#define CMDLINE_MAX_ARGS 64

void cmdline_parse(const char *text);
/* The command line as given (truncated to CMDLINE_MAX - 1). */
const char *cmdline_text(void);
/* Value of the last `key=value` (or "" for a bare `key`); NULL if absent. */
const char *cmdline_get(const char *key);
/* true if key is present with a number (decimal or 0x hex) as value. */
bool cmdline_get_u64(const char *key, uint64_t *out);

/* Iterates a comma-separated list: copies the next non-empty item into item
 * (truncated to size - 1) and advances *cursor. false at the end. */
bool list_next(const char **cursor, char *item, size_t size);

#endif
