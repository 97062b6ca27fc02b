/* The 8042 keyboard controller, polled with its interrupts off: controller self-test (0xAA ->
 * 0x55, SYS set), keyboard and mouse interface tests (0xAB, 0xA9 -> 0x00), a command-byte
 * round trip (0x20/0x60), keyboard reset through the controller (0xFF -> FA AA), echo (EE),
 * identify (F2 -> FA AB, then 41 with translation on or 83 without), a mouse reset and
 * identify through 0xD4 (FF -> FA AA 00, F2 -> FA 00, flagged as mouse data), and the 0xD3
 * loopback (with the mouse port enabled). The command byte is restored as found. */
#include "tests/test.h"
#include "lib/io.h"
#include "lib/platform.h"

#define CCB_KBD_INT   0x01
#define CCB_AUX_INT   0x02
#define CCB_KBD_OFF   0x10
#define CCB_AUX_OFF   0x20
#define CCB_XLATE     0x40

/* Expects exactly these bytes next, each within `ms`; aux says whether they must be mouse data. */
static bool expect(struct test_result *r, const char *what, const uint8_t *want, unsigned n, unsigned ms, bool aux)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t st = 0;
        int b = kbc_read(ms, &st);
        if (b < 0)
            return fail(r, " %s: byte %u missing (want 0x%02x)", what, i, want[i]);
        if (b != want[i])
            return fail(r, " %s: byte %u is 0x%02x, want 0x%02x", what, i, b, want[i]);
        if (!!(st & KBC_STS_AUX_OBF) != aux)
            return fail(r, " %s: byte %u %s flagged as mouse data", what, i, aux ? "not" : "wrongly");
    }
    return true;
}

static bool read_ccb(uint8_t *ccb)
{
    int v;
    if (!kbc_command(0x20) || (v = kbc_read(50, 0)) < 0)
        return false;
    *ccb = (uint8_t)v;
    return true;
}

static bool write_ccb(uint8_t ccb)
{
    return kbc_command(0x60) && kbc_write_data(ccb);
}

bool test_i8042(struct test_result *r)
{
    kbc_flush();
    uint8_t ccb0, ccb = 0;
    if (!read_ccb(&ccb0))
        return fail(r, "no reply to 0x20 (read command byte)");
    detail(r, "ccb=0x%02x", ccb0);
    bool ok = false;

    /* Interrupts off and both ports off while the controller tests itself. */
    uint8_t quiet = (ccb0 & ~(CCB_KBD_INT | CCB_AUX_INT)) | CCB_KBD_OFF | CCB_AUX_OFF;
    if (!write_ccb(quiet) || !read_ccb(&ccb) || ccb != quiet) {
        fail(r, " command byte round trip: wrote 0x%02x, read 0x%02x", quiet, ccb);
        goto out;
    }
    static const uint8_t self_ok[] = {0x55}, iface_ok[] = {0x00};
    if (!kbc_command(0xaa) || !expect(r, "self-test", self_ok, 1, 100, false))
        goto out;
    if (!(inb(KBC_STATUS) & KBC_STS_SYS)) {
        fail(r, " SYS flag clear after self-test");
        goto out;
    }
    if (!kbc_command(0xab) || !expect(r, "keyboard interface test", iface_ok, 1, 100, false))
        goto out;
    if (!kbc_command(0xa9) || !expect(r, "mouse interface test", iface_ok, 1, 100, false))
        goto out;
    /* The self-test may reset the command byte on real controllers: set it again. */
    if (!write_ccb(quiet & ~CCB_KBD_OFF))
        goto out;

    /* Keyboard, through the controller. A real keyboard's self-test takes up to ~500 ms. */
    static const uint8_t reset_ok[] = {0xfa, 0xaa}, echo_ok[] = {0xee};
    kbc_flush();
    if (!kbc_write_data(0xff) || !expect(r, "keyboard reset", reset_ok, 2, 1000, false))
        goto out;
    if (!kbc_write_data(0xee) || !expect(r, "keyboard echo", echo_ok, 1, 100, false))
        goto out;
    uint8_t id_ok[] = {0xfa, 0xab, (quiet & CCB_XLATE) ? 0x41 : 0x83};
    if (!kbc_write_data(0xf2) || !expect(r, "keyboard identify", id_ok, 3, 100, false))
        goto out;
    detail(r, " kbd=ok id=ab%02x", id_ok[2]);

    /* Mouse, through 0xD4 with the auxiliary port enabled (0xA8). */
    static const uint8_t mreset_ok[] = {0xfa, 0xaa, 0x00}, mid_ok[] = {0xfa, 0x00}, loop_ok[] = {0x5a};
    if (!kbc_command(0xa8) || !kbc_command(0xd4) || !kbc_write_data(0xff) ||
        !expect(r, "mouse reset", mreset_ok, 3, 1000, true))
        goto out;
    if (!kbc_command(0xd4) || !kbc_write_data(0xf2) || !expect(r, "mouse identify", mid_ok, 2, 100, true))
        goto out;
    /* Loopback into the mouse buffer (Linux's AUX probe). */
    if (!kbc_command(0xd3) || !kbc_write_data(0x5a) || !expect(r, "aux loopback", loop_ok, 1, 100, true))
        goto out;
    if (!kbc_command(0xa7))
        goto out;
    detail(r, " aux=ok");
    ok = true;
out:
    kbc_flush();
    write_ccb(ccb0);
    kbc_flush();
    if (ok && (!read_ccb(&ccb) || ccb != ccb0))
        ok = fail(r, " command byte not restored (0x%02x)", ccb);
    return ok;
}
