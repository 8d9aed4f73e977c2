/*
 * json.h - JSON string quoting shared by the admin API's writer
 * (node/admin/admin_json.c) and the repair service's reports
 * (repair/session_run.c).
 */
#ifndef BS_COMMON_JSON_H
#define BS_COMMON_JSON_H

#include <stddef.h>

#include "common/buf.h"

/* Appends s (n bytes) as a quoted, escaped JSON string (RFC 8259 section
 * 7): '"' and '\' backslashed, \b \f \n \r \t in their short forms, other
 * bytes below 0x20 and 0x7f as \u00XX, every byte that is not part of
 * valid UTF-8 as U+FFFD, so the output is valid JSON whatever comes in.
 * 0 or BS_ENOMEM. */
int bs_json_quote(bs_buf *b, const char *s, size_t n);

#endif
