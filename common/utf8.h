/*
 * utf8.h - strict UTF-8 decoding and validation (RFC 3629): overlong
 * forms, UTF-16 surrogates (U+D800..U+DFFF) and code points above
 * U+10FFFF are invalid.  CQL text values, config strings and admin JSON
 * all use this one definition.
 */
#ifndef BS_UTF8_H
#define BS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length (1-4) of the valid sequence at s, n > 0 bytes left, with
 * its code point in *cp (may be NULL); 0 if s does not start with one. */
size_t bs_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* 1 if p[0..n) is valid UTF-8, else 0. */
int bs_utf8_valid(const void *p, size_t n);

#endif
