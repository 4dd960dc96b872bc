#include "node/hostport.h"

#include <stdlib.h>
#include <string.h>

int hostport_split(const char *s, char *host, size_t cap, int *port, cairn_err *e)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return err_set(e, CAIRN_ECONFIG, "invalid address '%s': use [v6addr]:port", s);
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return err_set(e, CAIRN_ECONFIG, "invalid address '%s': use host:port", s);
        hlen = (size_t)(colon - s);
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (hlen == 0 || hlen >= cap || *end || p <= 0 || p > 65535)
        return err_set(e, CAIRN_ECONFIG, "invalid address '%s': use host:port", s);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
}
