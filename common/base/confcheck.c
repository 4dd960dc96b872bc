#include "base/confcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void confcheck_init(confcheck *c, FILE *out)
{
    c->out = out;
    c->problems = 0;
    const struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        snprintf(c->user, sizeof(c->user), "%s", pw->pw_name);
    else
        snprintf(c->user, sizeof(c->user), "%u", (unsigned)geteuid());
}

void confcheck_problem(confcheck *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->out, fmt, ap);
    va_end(ap);
    fputc('\n', c->out);
    c->problems++;
}

/* The fix for a path that open or access refused with err. */
static void refused(confcheck *c, const char *key, const char *path, int err, const char *want)
{
    if (err == ENOENT)
        confcheck_problem(c, "%s (%s): does not exist: create it, or correct %s", path, key, key);
    else if (err == EACCES || err == EPERM)
        confcheck_problem(c, "%s (%s): not %s by user %s: chown %s %s, or chmod u+%c %s", path, key,
                          want, c->user, c->user, path, want[0] == 'r' ? 'r' : 'w', path);
    else if (err == ENOTDIR)
        confcheck_problem(c, "%s (%s): a part of the path is not a directory: correct %s", path,
                          key, key);
    else
        confcheck_problem(c, "%s (%s): cannot be opened: %s", path, key, strerror(err));
}

void confcheck_readable(confcheck *c, const char *key, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        refused(c, key, path, errno, "readable");
        return;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        confcheck_problem(c, "%s (%s): is a directory: point %s at the file", path, key, key);
    close(fd);
}

void confcheck_private_key(confcheck *c, const char *key, const char *path)
{
    unsigned before = c->problems;
    confcheck_readable(c, key, path);
    struct stat st;
    if (c->problems == before && stat(path, &st) == 0 && (st.st_mode & S_IROTH))
        fprintf(c->out, "warning: %s (%s): every user can read this private key: chmod 600 %s\n",
                path, key, path);
}

void confcheck_tls(confcheck *c, const char *ca, const char *cert, const char *key)
{
    confcheck_readable(c, "tls.ca", ca);
    confcheck_readable(c, "tls.cert", cert);
    confcheck_private_key(c, "tls.key", key);
}

bool confcheck_verdict(const confcheck *c, const char *file)
{
    if (c->problems) {
        fprintf(c->out, "%s: %u problem%s\n", file, c->problems, c->problems == 1 ? "" : "s");
        return false;
    }
    printf("%s: configuration OK\n", file);
    return true;
}

void confcheck_writable_dir(confcheck *c, const char *key, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        refused(c, key, path, errno, "writable");
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        confcheck_problem(c, "%s (%s): is not a directory: point %s at a directory", path, key,
                          key);
        return;
    }
    if (faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) != 0)
        refused(c, key, path, errno, "writable");
}
