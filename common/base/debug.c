#include "base/debug.h"

#include <stdio.h>
#include <stdlib.h>

void debug_assert_fail(const char *cond, const char *file, int line, const char *func)
{
    fprintf(stderr, "cairn: internal error: assertion '%s' failed in %s (%s:%d)\n", cond, func,
            file, line);
    fflush(stderr);
    abort();
}
