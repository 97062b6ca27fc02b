#include "lib/printf.h"
#include "lib/serial.h"
#include <stdint.h>
#include <stdbool.h>

/* Output sink: either the serial port or a bounded buffer. */
struct sink {
    bool serial;        /* true: COM1, false: buf */
    char *buf;
    size_t size;
    size_t len;         /* characters produced (may exceed size for buffers) */
};

static void put(struct sink *s, char c)
{
    if (s->serial)
        serial_putc(c);
    else if (s->len + 1 < s->size)
        s->buf[s->len] = c;
    s->len++;
}

static void put_uint(struct sink *s, uint64_t v, unsigned base, int width, char pad, bool neg)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    int len = n + (neg ? 1 : 0);
    if (neg && pad == '0')
        put(s, '-');
    for (; width > len; width--)
        put(s, pad);
    if (neg && pad != '0')
        put(s, '-');
    while (n)
        put(s, tmp[--n]);
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(s, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, longs = 0;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'z') {
            longs++;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            put_uint(s, mag, 10, width, pad, v < 0);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
            put_uint(s, v, *fmt == 'x' ? 16 : 10, width, pad, false);
            break;
        }
        case 'p':
            put(s, '0');
            put(s, 'x');
            put_uint(s, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, width, pad, false);
            break;
        case 'c':
            put(s, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            int len = 0;
            while (str[len])
                len++;
            for (; width > len; width--)
                put(s, ' ');
            while (*str)
                put(s, *str++);
            break;
        }
        case '%':
            put(s, '%');
            break;
        case '\0':
            return;
        default:        /* unknown conversion: show it rather than guess */
            put(s, '%');
            put(s, *fmt);
            break;
        }
    }
}

int printf(const char *fmt, ...)
{
    struct sink s = {.serial = true};
    va_list ap;
    va_start(ap, fmt);
    format(&s, fmt, ap);
    va_end(ap);
    return (int)s.len;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct sink s = {.buf = buf, .size = size};
    format(&s, fmt, ap);
    if (size)
        buf[s.len < size ? s.len : size - 1] = '\0';
    return (int)s.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
