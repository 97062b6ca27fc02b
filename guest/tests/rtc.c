/* The CMOS real-time clock: reads the time in BCD and in binary, 24- and 12-hour form, and
 * checks the readings agree (within two seconds) and every field is in range (year >= 2024,
 * day of week consistent with the date, Sunday = 1). Waits for one update: the seconds change
 * within ~1.5 s, and if UIP is seen it must fall with the seconds changed. Checks the memory-size
 * bytes QEMU sets against the memmap (0x15/16 base KiB, 0x17/18 and 0x30/31 KiB above 1 MiB capped at 0xFFFF, 0x34/35
 * 64 KiB units above 16 MiB, 0x5B-0x5D 64 KiB units above 4 GiB; RAM below 4 GiB in the memmap
 * may stop short of the CMOS size only where the memmap reserves the rest) and, with cpus=N on the
 * command line, byte 0x5F = N - 1. Register B is restored as found. */
#include "tests/test.h"
#include "lib/cmdline.h"
#include "lib/cpu.h"
#include "lib/platform.h"
#include "lib/start_info.h"
#include "lib/tsc.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

struct rtc_time {
    unsigned sec, min, hour, dow, day, month, year;     /* year with century */
    bool pm_flag;                                        /* 12-hour mode only */
};

static unsigned from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0f); }
static bool bcd_ok(uint8_t v) { return (v >> 4) <= 9 && (v & 0x0f) <= 9; }

static bool wait_uip_clear(void)
{
    uint64_t deadline = rdtsc() + 10 * TSC_MAX_PER_MS;
    while (cmos_read(RTC_REG_A) & RTC_A_UIP) {
        if (tsc_passed(deadline))
            return false;
        cpu_pause();
    }
    return true;
}

/* One consistent reading: no update started before or during it. */
static bool read_time(struct rtc_time *t, uint8_t b, bool *bad_bcd)
{
    for (int tries = 0; tries < 10; tries++) {
        if (!wait_uip_clear())
            return false;
        uint8_t raw[8];
        raw[0] = cmos_read(RTC_SECONDS);
        raw[1] = cmos_read(RTC_MINUTES);
        raw[2] = cmos_read(RTC_HOURS);
        raw[3] = cmos_read(RTC_DOW);
        raw[4] = cmos_read(RTC_DAY);
        raw[5] = cmos_read(RTC_MONTH);
        raw[6] = cmos_read(RTC_YEAR);
        raw[7] = cmos_read(RTC_CENTURY);
        if ((cmos_read(RTC_REG_A) & RTC_A_UIP) || cmos_read(RTC_SECONDS) != raw[0])
            continue;
        bool binary = b & RTC_B_BINARY;
        t->pm_flag = !(b & RTC_B_24H) && (raw[2] & 0x80);
        if (!(b & RTC_B_24H))
            raw[2] &= 0x7f;
        if (!binary) {
            for (int i = 0; i < 8; i++)
                if (!bcd_ok(raw[i]))
                    *bad_bcd = true;
        }
        unsigned v[8];
        for (int i = 0; i < 8; i++)
            v[i] = binary ? raw[i] : from_bcd(raw[i]);
        t->sec = v[0];
        t->min = v[1];
        t->hour = v[2];
        t->dow = v[3];
        t->day = v[4];
        t->month = v[5];
        t->year = v[7] * 100 + v[6];
        return true;
    }
    return false;
}

static int64_t to_seconds(const struct rtc_time *t)
{
    return days_from_civil(t->year, t->month, t->day) * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
}

static bool in_range(struct test_result *r, const char *mode, const struct rtc_time *t)
{
    if (t->sec > 59 || t->min > 59 || t->hour > 23 || t->month < 1 || t->month > 12 || t->day < 1 ||
        t->day > 31 || t->dow < 1 || t->dow > 7 || t->year < 2024 || t->year > 2999)
        return fail(r, "%s: out of range %u-%02u-%02u %02u:%02u:%02u dow=%u", mode, t->year, t->month, t->day,
                    t->hour, t->min, t->sec, t->dow);
    /* 1970-01-01 was a Thursday: Sunday = 1 ... Saturday = 7. */
    unsigned want = (unsigned)((days_from_civil(t->year, t->month, t->day) + 4) % 7) + 1;
    if (t->dow != want)
        return fail(r, "%s: day of week %u, date says %u", mode, t->dow, want);
    return true;
}

/* true if every byte of [a, b) lies in some memmap entry that is not RAM. */
static bool reserved_in_memmap(uint64_t a, uint64_t b)
{
    while (a < b) {
        bool found = false;
        for (uint32_t i = 0; i < boot.memmap_count; i++) {
            const struct hvm_memmap_entry *e = &boot.memmap[i];
            if (e->type != MEMMAP_RAM && e->addr <= a && a < e->addr + e->size) {
                a = e->addr + e->size;
                found = true;
                break;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

/* The CMOS sizes describe the RAM installed; the memmap may reserve its top (SeaBIOS keeps its
 * tables there), so RAM in the memmap must end at the CMOS size or below it with the rest
 * reserved. The sizes must also agree with each other. */
static bool check_memory(struct test_result *r)
{
    uint64_t low_top = 0, high = 0;
    for (uint32_t i = 0; i < boot.memmap_count; i++) {
        const struct hvm_memmap_entry *e = &boot.memmap[i];
        if (e->type != MEMMAP_RAM)
            continue;
        uint64_t end = e->addr + e->size;
        if (end <= 4 * GIB) {
            if (end > low_top)
                low_top = end;
        } else if (e->addr >= 4 * GIB) {
            high += e->size;
        }
    }
    unsigned base = cmos_read(0x15) | cmos_read(0x16) << 8;
    unsigned ext = cmos_read(0x17) | cmos_read(0x18) << 8;
    unsigned ext2 = cmos_read(0x30) | cmos_read(0x31) << 8;
    unsigned above16 = cmos_read(0x34) | cmos_read(0x35) << 8;
    uint64_t above4g = cmos_read(0x5b) | cmos_read(0x5c) << 8 | (uint64_t)cmos_read(0x5d) << 16;
    detail(r, " mem=%u/%u/%u/%llu", base, ext, above16, (unsigned long long)above4g);
    uint64_t cmos_top = above16 ? 16 * MIB + above16 * 64 * KIB : MIB + ext * KIB;
    uint64_t want_ext = (cmos_top - MIB) / KIB > 0xffff ? 0xffff : (cmos_top - MIB) / KIB;
    if (base != 640)
        return fail(r, " base memory %u KiB, want 640", base);
    if (ext != want_ext || ext2 != ext)
        return fail(r, " extended memory %u/%u KiB disagrees with %u x 64K above 16M", ext, ext2, above16);
    if (low_top > cmos_top || !reserved_in_memmap(low_top, cmos_top))
        return fail(r, " CMOS says RAM ends at 0x%llx, the memmap's RAM ends at 0x%llx", (unsigned long long)cmos_top,
                    (unsigned long long)low_top);
    if (above4g != high / (64 * KIB))
        return fail(r, " memory above 4G %llu x 64K, memmap says %llu", (unsigned long long)above4g,
                    (unsigned long long)(high / (64 * KIB)));
    if (low_top != cmos_top)
        detail(r, " top-reserved=%lluK", (unsigned long long)((cmos_top - low_top) / KIB));
    return true;
}

bool test_rtc(struct test_result *r)
{
    uint8_t b0 = cmos_read(RTC_REG_B);
    if (cmos_read(RTC_REG_D) != 0x80)
        return fail(r, "register D 0x%02x, want 0x80 (VRT)", cmos_read(RTC_REG_D));
    bool bad_bcd = false, ok = true;
    struct rtc_time bcd, bin, h12;

    /* BCD, 24-hour. */
    uint8_t b_bcd = (b0 & ~(RTC_B_SET | RTC_B_BINARY)) | RTC_B_24H;
    cmos_write(RTC_REG_B, b_bcd);
    if (!read_time(&bcd, b_bcd, &bad_bcd)) {
        ok = fail(r, "no stable BCD reading (UIP stuck?)");
        goto out;
    }
    if (bad_bcd) {
        ok = fail(r, "BCD reading has a digit above 9");
        goto out;
    }
    /* Binary, 24-hour. */
    uint8_t b_bin = b_bcd | RTC_B_BINARY;
    cmos_write(RTC_REG_B, b_bin);
    if (!read_time(&bin, b_bin, &bad_bcd)) {
        ok = fail(r, "no stable binary reading");
        goto out;
    }
    /* Binary, 12-hour. */
    uint8_t b_12 = b_bin & ~RTC_B_24H;
    cmos_write(RTC_REG_B, b_12);
    if (!read_time(&h12, b_12, &bad_bcd)) {
        ok = fail(r, "no stable 12-hour reading");
        goto out;
    }
    if (h12.hour < 1 || h12.hour > 12) {
        ok = fail(r, "12-hour mode shows hour %u", h12.hour);
        goto out;
    }
    h12.hour = h12.hour % 12 + (h12.pm_flag ? 12 : 0);
    cmos_write(RTC_REG_B, b0 & ~RTC_B_SET);

    detail(r, "time=%u-%02u-%02uT%02u:%02u:%02uZ dow=%u", bcd.year, bcd.month, bcd.day, bcd.hour, bcd.min, bcd.sec,
           bcd.dow);
    if (!in_range(r, "bcd", &bcd) || !in_range(r, "binary", &bin) || !in_range(r, "12h", &h12)) {
        ok = false;
        goto out;
    }
    int64_t d1 = to_seconds(&bin) - to_seconds(&bcd), d2 = to_seconds(&h12) - to_seconds(&bin);
    if (d1 < 0 || d1 > 2 || d2 < 0 || d2 > 2) {
        ok = fail(r, " readings disagree: binary-bcd=%lld 12h-binary=%lld s", (long long)d1, (long long)d2);
        goto out;
    }

    /* One update: the seconds move on within ~1.5 s. UIP is only 244 us wide, so a host that
     * deschedules this vCPU can hide it; seeing it is reported, not required. When seen, it
     * must fall again and the seconds must have changed by then. */
    uint8_t s0 = cmos_read(RTC_SECONDS);
    uint64_t deadline = rdtsc() + 1500 * TSC_MAX_PER_MS;
    bool uip_seen = false;
    uint8_t s1 = s0;
    while (s1 == s0) {
        if (cmos_read(RTC_REG_A) & RTC_A_UIP) {
            uip_seen = true;
            if (!wait_uip_clear()) {
                ok = fail(r, " UIP stuck");
                goto out;
            }
            s1 = cmos_read(RTC_SECONDS);
            if (s1 == s0) {
                ok = fail(r, " seconds did not change after UIP (0x%02x)", s0);
                goto out;
            }
            break;
        }
        if (tsc_passed(deadline)) {
            ok = fail(r, " seconds did not change in 1.5 s (0x%02x)", s0);
            goto out;
        }
        s1 = cmos_read(RTC_SECONDS);
    }
    detail(r, uip_seen ? " uip=seen" : " uip=missed");
    detail(r, " update=ok");

    ok = check_memory(r);
    if (!ok)
        goto out;
    uint64_t cpus;
    if (cmdline_get_u64("cpus", &cpus)) {
        uint8_t c = cmos_read(0x5f);
        detail(r, " cpus-1=%u", c);
        if (c != cpus - 1)
            ok = fail(r, " (want %llu)", (unsigned long long)(cpus - 1));
    }
out:
    cmos_write(RTC_REG_B, b0);
    return ok;
}
