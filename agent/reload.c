#include "reload.h"

#include "base/log.h"

int agent_reload(const agent_config *cfg, transport_server *srv, cairn_err *e)
{
    if (cfg->log_file) {
        cairn_err le;
        err_clear(&le);
        /* Opens the new file before closing the old, so a failure loses no line. */
        if (log_open_file(cfg->log_file, &le) != 0)
            log_error("reload: %s; logging goes on to the file opened before", le.msg);
    }
    /* The CQL TLS files are read at every connection: a renewal that broke them shows
     * now rather than at the next backup. */
    cairn_err ce;
    err_clear(&ce);
    if (cql_tls_check(&cfg->scylla_cql_tls, &ce) != 0)
        log_error("reload: %s; CQL connections fail until it is corrected", ce.msg);
    if (cfg->insecure)
        return 0;
    transport_tls tls = {cfg->tls_ca, cfg->tls_cert, cfg->tls_key};
    return transport_server_reload_tls(srv, &tls, e);
}
