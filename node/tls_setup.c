/*
 * tls_setup.c - maps the three TLS option groups of the configuration to
 * common/tls.h contexts.  Internode TLS is mutual: both roles load this
 * node's certificate and verify the peer's against the cluster CA.
 */
#include "node/tls_setup.h"

#include <stdio.h>

#include "common/error.h"

int bs_node_tls_ctx(const bs_config *cfg, bs_node_tls_role role, bs_tls_ctx **out, char *err,
                    size_t errlen) {
    *out = NULL;
    bs_tls_opts o = {0};
    const char *group;
    switch (role) {
    case BS_NODE_TLS_CQL:
        if (!cfg->client_enc_enabled) return 0;
        group = "client_encryption_options";
        o = (bs_tls_opts){1, cfg->client_enc_certfile, cfg->client_enc_keyfile,
                          cfg->client_enc_cafile, cfg->client_enc_require_client_auth};
        break;
    case BS_NODE_TLS_INTERNODE_SERVER:
    case BS_NODE_TLS_INTERNODE_CLIENT:
        if (cfg->internode_encryption == BS_INTERNODE_ENC_NONE) return 0;
        group = "server_encryption_options";
        o = (bs_tls_opts){role == BS_NODE_TLS_INTERNODE_SERVER, cfg->server_enc_certfile,
                          cfg->server_enc_keyfile, cfg->server_enc_cafile, 1};
        break;
    case BS_NODE_TLS_ADMIN:
        if (!cfg->admin_enc_enabled) return 0;
        group = "admin_encryption_options";
        o = (bs_tls_opts){1, cfg->admin_enc_certfile, cfg->admin_enc_keyfile,
                          cfg->admin_enc_cafile, cfg->admin_enc_require_client_auth};
        break;
    case BS_NODE_TLS_HTTP:
        if (!cfg->http_enc_enabled) return 0;
        group = "http_encryption_options";
        o = (bs_tls_opts){1, cfg->http_enc_certfile, cfg->http_enc_keyfile,
                          cfg->http_enc_cafile, cfg->http_enc_require_client_auth};
        break;
    default:
        return BS_EINVAL;
    }
    char why[512];
    int rc = bs_tls_ctx_new(&o, out, why, sizeof why);
    if (rc == BS_ECONFIG) snprintf(err, errlen, "%s: %s", group, why);
    else if (rc) snprintf(err, errlen, "%s: %s", group, bs_strerror(rc));
    return rc;
}
