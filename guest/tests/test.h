/* Test registry and result reporting.
 *
 * Output protocol (parsed by the host; keep it exact):
 *   one banner line, then per test   TEST <name> PASS <detail>   or   TEST <name> FAIL <detail>,
 *   then   RESULT <p> passed, <f> failed,   then one byte to port 0xf4: 0 all passed, 1 otherwise.
 *
 * To add a test: write tests/<name>.c with `bool test_<name>(struct test_result *r)`,
 * declare it below and add it to the table in tests/registry.c. */
#ifndef TESTS_TEST_H
#define TESTS_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEST_DETAIL_MAX 256

struct test_result {
    char detail[TEST_DETAIL_MAX];
    size_t len;
};

typedef bool (*test_fn)(struct test_result *r);

struct test {
    const char *name;
    test_fn fn;
    bool on_request;    /* runs only when named in tests=, never by default */
};

extern const struct test test_registry[];
extern const size_t test_registry_count;

/* A name in tests= that stands for several tests, run in this order. */
struct test_group {
    const char *name;
    const char *members;    /* comma-separated test names */
};

extern const struct test_group test_groups[];
extern const size_t test_group_count;

/* Appends to the one-line detail (newlines are not allowed in it). */
void detail(struct test_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends and returns false, for `return fail(r, "...")`. */
bool fail(struct test_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A bit of a feature word and its name, for detail_bits. */
struct bit_name {
    unsigned bit;
    const char *name;
};
/* Appends the names of the bits set in `word`, comma-separated, in table order. */
void detail_bits(struct test_result *r, uint64_t word, const struct bit_name *names, size_t count);

/* Runs the tests named by `tests=a,b,c` on the command line (default: all registered). */
void run_tests(unsigned *passed, unsigned *failed);

bool test_serial(struct test_result *r);
bool test_memory(struct test_result *r);
bool test_smp(struct test_result *r);
bool test_wait(struct test_result *r);
bool test_pci(struct test_result *r);
bool test_acpi(struct test_result *r);
bool test_blk_id(struct test_result *r);
bool test_blk_read(struct test_result *r);
bool test_blk_write(struct test_result *r);
bool test_blk_flush(struct test_result *r);
bool test_blk_discard(struct test_result *r);
bool test_blk_ro(struct test_result *r);
bool test_blk_msix(struct test_result *r);
bool test_blk_bad(struct test_result *r);
bool test_ide_id(struct test_result *r);
bool test_ide_pio(struct test_result *r);
bool test_ide_dma(struct test_result *r);
bool test_atapi(struct test_result *r);
bool test_blk_bench(struct test_result *r);
bool test_net_id(struct test_result *r);
bool test_net_arp(struct test_result *r);
bool test_net_dhcp(struct test_result *r);
bool test_net_udp_echo(struct test_result *r);
bool test_net_irq(struct test_result *r);
bool test_net_peer(struct test_result *r);
bool test_net_bad(struct test_result *r);
bool test_net_bench(struct test_result *r);
bool test_rtc(struct test_result *r);
bool test_pmtimer(struct test_result *r);
bool test_i8042(struct test_result *r);
bool test_piixirq(struct test_result *r);
bool test_s5(struct test_result *r);
bool test_reset(struct test_result *r);

#endif
