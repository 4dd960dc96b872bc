#include "base/path.h"

#include <stdarg.h>
#include <stdio.h>

int path_fmt(char *buf, size_t cap, cairn_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap)
        return err_set(e, CAIRN_EINVAL, "path too long: %.200s...", buf);
    return 0;
}
