/*
 * fuzz_frame.c - libFuzzer driver for the native protocol frame decoder
 * and every request decoder (query/proto*.c).
 *
 * Input layout:
 *   byte 0   control: bit 0 = LZ4 negotiated on the connection,
 *            bits 1..7 = chunk size - 1 for feeding the stream decoder
 *   rest     the bytes a client sends on its connection
 *
 * The bytes go through the streaming decoder in chunks (alternating
 * feed() and the zero-copy wbuf()/commit() path); each complete frame is
 * decoded by bs_proto_request_decode and, independently of its opcode,
 * by every request body decoder and the response decoder.  A request
 * that decodes is re-encoded and must decode again (the encoder and the
 * decoder agree on everything the decoder accepts).  The decoder's
 * errors are expected; crashes, sanitizer reports and a failed
 * re-decode are findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/proto.h"
#include "query/proto_msg.h"

static void all_decoders(const bs_proto_frame *f, bs_arena *a) {
    bs_proto_rd r;
    bs_proto_startup st;
    bs_proto_query q;
    bs_proto_prepare pr;
    bs_proto_execute ex;
    bs_proto_batch bt;
    bs_proto_register rg;
    bs_proto_rd_init(&r, f->body, f->body_len);
    (void)bs_proto_startup_decode(&r, a, &st);
    bs_proto_rd_init(&r, f->body, f->body_len);
    (void)bs_proto_query_decode(&r, a, &q);
    bs_proto_rd_init(&r, f->body, f->body_len);
    (void)bs_proto_prepare_decode(&r, &pr);
    bs_proto_rd_init(&r, f->body, f->body_len);
    (void)bs_proto_execute_decode(&r, a, &ex);
    bs_proto_rd_init(&r, f->body, f->body_len);
    (void)bs_proto_batch_decode(&r, a, &bt);
    bs_proto_rd_init(&r, f->body, f->body_len);
    (void)bs_proto_register_decode(&r, a, &rg);
    /* the client-side decoders share the primitives: run them too */
    bs_proto_frame rf = *f;
    rf.h.response = 1;
    static const uint8_t resp_ops[] = {BS_PROTO_OP_ERROR, BS_PROTO_OP_RESULT,
                                       BS_PROTO_OP_EVENT,
                                       BS_PROTO_OP_SUPPORTED};
    for (unsigned i = 0; i < sizeof resp_ops; i++) {
        bs_proto_response resp;
        rf.h.opcode = resp_ops[i];
        if (bs_proto_response_decode(&rf, a, &resp, &r) == 0 &&
            rf.h.opcode == BS_PROTO_OP_RESULT &&
            resp.u.result.kind == BS_PROTO_RESULT_ROWS) {
            bs_proto_rows_iter it;
            bs_proto_val cells[64];
            if (resp.u.result.u.rows.meta.ncols <= 64) {
                bs_proto_rows_iter_init(&it, &resp.u.result.u.rows);
                int rc, n = 0;
                while ((rc = bs_proto_rows_next(&it, cells)) == 1 && n < 100000)
                    n++;
                if (rc < 0) abort(); /* validated rows must iterate */
            }
        }
    }
}

static void round_trip(const bs_proto_frame *f, const bs_proto_request *req,
                       bs_arena *a) {
    bs_buf out = BS_BUF_INIT;
    int rc =
        bs_proto_request_encode(&out, f->h.stream, req, BS_PROTO_COMP_NONE);
    if (rc == BS_ENOMEM) goto done;
    if (rc) abort();
    bs_proto_header h;
    if (bs_proto_header_parse(out.data, out.len, NULL, &h, NULL, 0) != 0)
        abort();
    bs_proto_frame f2 = {h, out.data + BS_PROTO_HEADER_LEN,
                         out.len - BS_PROTO_HEADER_LEN};
    bs_proto_request again;
    bs_proto_rd r;
    if (bs_proto_request_decode(&f2, a, &again, &r) != 0) abort();
    if (again.opcode != req->opcode) abort();
done:
    bs_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t ctl = data[0];
    data++;
    size--;
    size_t chunk = (size_t)(ctl >> 1) + 1;
    bs_proto_decoder *d;
    bs_proto_header_opts opts = {1u << 20, 0};
    if (bs_proto_decoder_new(&opts, &d)) return 0;
    if (ctl & 1) bs_proto_decoder_set_compression(d, BS_PROTO_COMP_LZ4);
    bs_arena a;
    bs_arena_init(&a, 0);
    size_t off = 0;
    int alt = 0, dead = 0;
    while (off < size && !dead) {
        size_t n = chunk < size - off ? chunk : size - off;
        if (alt ^= 1) {
            if (bs_proto_decoder_feed(d, data + off, n)) break;
        } else {
            uint8_t *p;
            size_t cap;
            if (bs_proto_decoder_wbuf(d, n, &p, &cap)) break;
            if (cap < n) abort();
            memcpy(p, data + off, n);
            bs_proto_decoder_commit(d, n);
        }
        off += n;
        for (;;) {
            bs_proto_frame f;
            int rc = bs_proto_decoder_next(d, &f);
            if (rc == BS_EAGAIN) break;
            if (rc == BS_ETOOBIG) continue;
            if (rc) {
                /* the server answers and closes: build that answer too */
                bs_buf ans = BS_BUF_INIT;
                if (rc == BS_ENOTSUP)
                    (void)bs_proto_version_error_frame(&ans, f.h.version,
                                                       f.h.stream);
                else
                    (void)bs_proto_error_frame(
                        &ans, f.h.stream, BS_PROTO_ERR_PROTOCOL,
                        bs_proto_decoder_errmsg(d), BS_PROTO_COMP_NONE);
                bs_buf_free(&ans);
                dead = 1;
                break;
            }
            bs_proto_request req;
            bs_proto_rd r;
            if (bs_proto_request_decode(&f, &a, &req, &r) == 0)
                round_trip(&f, &req, &a);
            all_decoders(&f, &a);
            bs_arena_reset(&a);
        }
    }
    bs_arena_free(&a);
    bs_proto_decoder_free(d);
    return 0;
}
