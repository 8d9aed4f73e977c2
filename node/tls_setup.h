/*
 * tls_setup.h - basaltd's TLS contexts from its configuration
 * (client_encryption_options, server_encryption_options,
 * admin_encryption_options; docs/SECURITY.md).
 */
#ifndef BS_NODE_TLS_SETUP_H
#define BS_NODE_TLS_SETUP_H

#include <stddef.h>

#include "common/tls.h"
#include "node/config.h"

typedef enum {
    BS_NODE_TLS_CQL,             /* server side of the CQL port */
    BS_NODE_TLS_INTERNODE_SERVER, /* accepted internode connections */
    BS_NODE_TLS_INTERNODE_CLIENT, /* internode connections we open */
    BS_NODE_TLS_ADMIN,            /* server side of the admin API */
    BS_NODE_TLS_HTTP              /* server side of the HTTP port */
} bs_node_tls_role;

/* The context of one role, or *out NULL when the config leaves that role
 * in plaintext.  0, or BS_ECONFIG with err naming the config group and
 * the file (a missing or unreadable PEM file, a key that does not match).
 * Free with bs_tls_ctx_free after every connection using it is gone. */
int bs_node_tls_ctx(const bs_config *cfg, bs_node_tls_role role, bs_tls_ctx **out, char *err,
                    size_t errlen);

#endif
