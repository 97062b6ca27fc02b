#include "tests/test.h"
#include "lib/cmdline.h"
#include "lib/printf.h"
#include "lib/string.h"
#include <stdarg.h>

static void vdetail(struct test_result *r, const char *fmt, va_list ap)
{
    if (r->len >= sizeof(r->detail) - 1)
        return;
    int n = vsnprintf(r->detail + r->len, sizeof(r->detail) - r->len, fmt, ap);
    r->len += (size_t)n;
    if (r->len > sizeof(r->detail) - 1)
        r->len = sizeof(r->detail) - 1;
}

void detail(struct test_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdetail(r, fmt, ap);
    va_end(ap);
}

void detail_bits(struct test_result *r, uint64_t word, const struct bit_name *names, size_t count)
{
    const char *sep = "";
    for (size_t i = 0; i < count; i++) {
        if (word & (1ull << names[i].bit)) {
            detail(r, "%s%s", sep, names[i].name);
            sep = ",";
        }
    }
}

bool fail(struct test_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdetail(r, fmt, ap);
    va_end(ap);
    return false;
}

static void report(const char *name, bool ok, struct test_result *r, unsigned *passed, unsigned *failed)
{
    for (char *c = r->detail; *c; c++)      /* keep the result on one line */
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    printf("TEST %s %s %s\n", name, ok ? "PASS" : "FAIL", r->len ? r->detail : "-");
    if (ok)
        (*passed)++;
    else
        (*failed)++;
}

static void run_one(const char *name, unsigned *passed, unsigned *failed)
{
    struct test_result r = {0};
    for (size_t i = 0; i < test_registry_count; i++) {
        if (strcmp(test_registry[i].name, name) == 0) {
            bool ok = test_registry[i].fn(&r);
            report(name, ok, &r, passed, failed);
            return;
        }
    }
    detail(&r, "unknown test");
    report(name, false, &r, passed, failed);
}

void run_tests(unsigned *passed, unsigned *failed)
{
    const char *list = cmdline_get("tests");
    if (!list) {
        for (size_t i = 0; i < test_registry_count; i++)
            if (!test_registry[i].on_request)
                run_one(test_registry[i].name, passed, failed);
        return;
    }
    char name[64];
    while (list_next(&list, name, sizeof(name))) {
        const char *members = NULL;
        for (size_t g = 0; g < test_group_count; g++)
            if (strcmp(test_groups[g].name, name) == 0)
                members = test_groups[g].members;
        if (!members) {
            run_one(name, passed, failed);
            continue;
        }
        char member[64];
        while (list_next(&members, member, sizeof(member)))
            run_one(member, passed, failed);
    }
}
