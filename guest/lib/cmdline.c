#include "lib/cmdline.h"
#include "lib/string.h"

struct arg {
    const char *key;
    const char *value;
};

static char text[CMDLINE_MAX];
static char words[CMDLINE_MAX];   /* tokenized copy: separators replaced by NUL */
static struct arg args[CMDLINE_MAX_ARGS];
static size_t nargs;

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void cmdline_parse(const char *src)
{
    size_t n = src ? strnlen(src, CMDLINE_MAX - 1) : 0;
    memcpy(text, src, n);
    text[n] = '\0';
    memcpy(words, text, n + 1);
    nargs = 0;

    char *p = words;
    for (;;) {
        while (is_space(*p))
            p++;
        if (!*p)
            break;
        char *key = p;
        while (*p && !is_space(*p))
            p++;
        if (*p)
            *p++ = '\0';                  /* the word is now a string of its own */
        char *value = key + strlen(key);  /* bare word: "" */
        for (char *q = key; *q; q++) {
            if (*q == '=') {
                *q = '\0';
                value = q + 1;
                break;
            }
        }
        if (nargs < CMDLINE_MAX_ARGS) {
            args[nargs].key = key;
            args[nargs].value = value;
            nargs++;
        }
    }
}

const char *cmdline_text(void) { return text; }

const char *cmdline_get(const char *key)
{
    for (size_t i = nargs; i-- > 0;)
        if (strcmp(args[i].key, key) == 0)
            return args[i].value;
    return NULL;
}

bool cmdline_get_u64(const char *key, uint64_t *out)
{
    const char *v = cmdline_get(key);
    return v && parse_u64(v, strlen(v), out);
}

bool list_next(const char **cursor, char *item, size_t size)
{
    const char *p = *cursor;
    while (*p == ',')
        p++;
    if (!*p)
        return false;
    size_t n = 0;
    for (; *p && *p != ','; p++)
        if (n + 1 < size)
            item[n++] = *p;
    item[n] = '\0';
    *cursor = p;
    return true;
}
