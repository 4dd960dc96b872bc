/*
 * config_file - the file side of configuration loading: reading a file whole, within a
 * size that only a configuration has, wiping its text after the parse (it may hold
 * storage keys), and paths in it taken relative to its directory. config.c maps the
 * YAML to the fields.
 */
#include "base/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1u << 20)

static int read_file(const char *path, char **text, size_t *len, cairn_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, CAIRN_ECONFIG, "cannot read %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return err_set(e, CAIRN_ECONFIG, "cannot read %s: %s", path, strerror(EISDIR));
    }
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    if (!buf) {
        close(fd);
        return err_set(e, CAIRN_ENOMEM, "%s: out of memory", path);
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, CONFIG_FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int saved = errno;
            close(fd);
            free(buf);
            return err_set(e, CAIRN_ECONFIG, "cannot read %s: %s", path, strerror(saved));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > CONFIG_FILE_MAX) {
            close(fd);
            free(buf);
            return err_set(e, CAIRN_ECONFIG,
                           "%s is larger than %u KiB; is it really a configuration file?", path,
                           CONFIG_FILE_MAX / 1024);
        }
    }
    close(fd);
    *text = buf;
    *len = n;
    return 0;
}

int config_load_file(const char *path, const config_field *fields, void *out, cairn_err *e)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len, e);
    if (rc) {
        config_free(fields, out);
        return rc;
    }
    rc = config_load_text(path, text, len, fields, out, e);
    /* The text may hold secrets (storage keys); do not leave them in freed memory. */
    explicit_bzero(text, len);
    free(text);
    return rc;
}

int config_resolve_path(const char *file, char **p, cairn_err *e)
{
    const char *slash = strrchr(file, '/');
    if (!*p || (*p)[0] == '/' || !slash)
        return 0;
    int dir_len = (int)(slash - file) + 1;
    size_t n = (size_t)dir_len + strlen(*p) + 1;
    char *joined = malloc(n);
    if (!joined)
        return err_set(e, CAIRN_ENOMEM, "%s: out of memory", file);
    snprintf(joined, n, "%.*s%s", dir_len, file, *p);
    free(*p);
    *p = joined;
    return 0;
}
