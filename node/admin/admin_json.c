/*
 * admin_json.c - the JSON writer handlers use to build response bodies.
 *
 * State: a depth counter and two bit sets indexed by depth (bit d of
 * `first` = the container opened at depth d has no element yet; bit d of
 * `is_obj` = it is an object).  A value inside an object must follow a
 * key (`after_key`); a value inside an array or at top level gets a comma
 * when it is not the first.  Depth is capped at 32, well inside the 64
 * bits.  Any misuse or allocation failure sets `err` once; every later
 * call is a no-op (the writer is poisoned) and finish() reports it.
 *
 * String escaping is common/json.c's bs_json_quote (RFC 8259; invalid
 * UTF-8 becomes U+FFFD, so the output is valid JSON whatever bytes come
 * in).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "node/admin/admin.h"

#define MAX_DEPTH 32

int bs_admin_json_quote(bs_buf *b, const char *s, size_t n) {
    return bs_json_quote(b, s, n);
}

void bs_admin_json_init(bs_admin_json *w, bs_buf *out) {
    memset(w, 0, sizeof *w);
    w->out = out;
}

static void set_err(bs_admin_json *w, int err) {
    if (!w->err) w->err = err;
}

/* Writes the separator before a value; 0 when the value may follow. */
static int before_value(bs_admin_json *w) {
    if (w->err) return -1;
    if (w->depth > 0 && (w->is_obj >> w->depth & 1)) {
        if (!w->after_key) {
            set_err(w, BS_EINVAL); /* value in an object without a key */
            return -1;
        }
        w->after_key = false;
        return 0;
    }
    if (w->depth > 0) {
        if (w->first >> w->depth & 1) {
            w->first &= ~(1ull << w->depth);
        } else if (bs_buf_append_u8(w->out, ',')) {
            set_err(w, BS_ENOMEM);
            return -1;
        }
    } else {
        /* bit 0 of `first` (depth 0 is never a container) records that
         * the one top-level value was written: a second is not JSON */
        if (w->first & 1) {
            set_err(w, BS_EINVAL);
            return -1;
        }
        w->first |= 1;
    }
    return 0;
}

static void raw(bs_admin_json *w, const char *s) {
    if (bs_buf_append_str(w->out, s)) set_err(w, BS_ENOMEM);
}

static void open_container(bs_admin_json *w, char c, bool obj) {
    if (before_value(w)) return;
    if (w->depth + 1 > MAX_DEPTH) {
        set_err(w, BS_ERANGE);
        return;
    }
    if (bs_buf_append_u8(w->out, (uint8_t)c)) {
        set_err(w, BS_ENOMEM);
        return;
    }
    w->depth++;
    w->first |= 1ull << w->depth;
    if (obj)
        w->is_obj |= 1ull << w->depth;
    else
        w->is_obj &= ~(1ull << w->depth);
}

void bs_admin_json_obj(bs_admin_json *w) {
    open_container(w, '{', true);
}
void bs_admin_json_arr(bs_admin_json *w) {
    open_container(w, '[', false);
}

void bs_admin_json_end(bs_admin_json *w) {
    if (w->err) return;
    if (w->depth == 0 || w->after_key) {
        set_err(w, BS_EINVAL);
        return;
    }
    bool obj = w->is_obj >> w->depth & 1;
    w->first &= ~(1ull << w->depth);
    w->is_obj &= ~(1ull << w->depth);
    w->depth--;
    raw(w, obj ? "}" : "]");
}

void bs_admin_json_key(bs_admin_json *w, const char *key) {
    if (w->err) return;
    if (w->depth == 0 || !(w->is_obj >> w->depth & 1) || w->after_key || !key) {
        set_err(w, BS_EINVAL);
        return;
    }
    if (w->first >> w->depth & 1)
        w->first &= ~(1ull << w->depth);
    else if (bs_buf_append_u8(w->out, ',')) {
        set_err(w, BS_ENOMEM);
        return;
    }
    if (bs_admin_json_quote(w->out, key, strlen(key)) ||
        bs_buf_append_u8(w->out, ':')) {
        set_err(w, BS_ENOMEM);
        return;
    }
    w->after_key = true;
}

void bs_admin_json_strn(bs_admin_json *w, const char *s, size_t n) {
    if (before_value(w)) return;
    if (bs_admin_json_quote(w->out, s, n)) set_err(w, BS_ENOMEM);
}

void bs_admin_json_str(bs_admin_json *w, const char *s) {
    if (!s) {
        bs_admin_json_null(w);
        return;
    }
    bs_admin_json_strn(w, s, strlen(s));
}

void bs_admin_json_int(bs_admin_json *w, int64_t v) {
    if (before_value(w)) return;
    if (bs_buf_appendf(w->out, "%lld", (long long)v)) set_err(w, BS_ENOMEM);
}

void bs_admin_json_double(bs_admin_json *w, double v) {
    if (before_value(w)) return;
    int rc = isfinite(v) ? bs_buf_appendf(w->out, "%.17g", v)
                         : bs_buf_append_str(w->out, "null");
    if (rc) set_err(w, BS_ENOMEM);
}

void bs_admin_json_bool(bs_admin_json *w, bool v) {
    if (before_value(w)) return;
    raw(w, v ? "true" : "false");
}

void bs_admin_json_null(bs_admin_json *w) {
    if (before_value(w)) return;
    raw(w, "null");
}

void bs_admin_json_uuid(bs_admin_json *w, const bs_uuid *u) {
    char s[BS_UUID_STRLEN + 1];
    bs_uuid_format(u, s);
    bs_admin_json_str(w, s);
}

int bs_admin_json_finish(const bs_admin_json *w) {
    if (w->err) return w->err;
    if (w->depth != 0 || w->after_key) return BS_EINVAL;
    return 0;
}
