#include "cli/cmdhelp.h"

#include <string.h>

#include "base/debug.h"

typedef struct cmdhelp_opt {
    const char *flag; /* as typed, with its value: "--tag T" */
    const char *what;
} cmdhelp_opt;

struct cmdhelp {
    const char *name; /* "backup", "certs issue" */
    const char *args; /* positional arguments, "" for none */
    const char *summary;
    const cmdhelp_opt *opts; /* ends with flag == NULL */
};

#define OPTS(...)                                                                                  \
    (const cmdhelp_opt[])                                                                          \
    {                                                                                              \
        __VA_ARGS__,                                                                               \
        {                                                                                          \
            NULL, NULL                                                                             \
        }                                                                                          \
    }
#define NO_OPTS                                                                                    \
    (const cmdhelp_opt[])                                                                          \
    {                                                                                              \
        {                                                                                          \
            NULL, NULL                                                                             \
        }                                                                                          \
    }
#define JSON                                                                                       \
    {                                                                                              \
        "--json", "print one JSON document on standard output, and nothing else there"             \
    }
#define METRICS                                                                                    \
    {                                                                                              \
        "--metrics-file PATH", "write the run's metrics to PATH when it ends"                      \
    }
#define FILTERS                                                                                    \
    {"--keyspace GLOB",                                                                            \
     "only keyspaces (or keyspace.table with a dot) matching GLOB; repeatable"},                   \
    {                                                                                              \
        "--exclude GLOB", "leave out keyspaces or keyspace.tables matching GLOB; repeatable"       \
    }
#define PARALLEL(what)                                                                             \
    {                                                                                              \
        "--parallel N", what " at once, 1 to 1024 (default 16)"                                    \
    }

/* In the order `cairn --help` lists them; a subcommand follows its command. */
static const cmdhelp commands[] = {
    {"status", "", "is every node ready for a backup?",
     OPTS({"--watch", "check again and again, redrawing the table, until interrupted"},
          {"--interval S", "seconds between two checks with --watch (default 2)"}, JSON)},
    {"backup", "", "back up the whole cluster",
     OPTS({"--tag T", "name the backup (default cairn_YYYYMMDDhhmmss.mmmZ, in UTC)"}, FILTERS,
          {"--keep-snapshot", "leave the ScyllaDB snapshot on every node once it is uploaded"},
          {"--incremental", "upload what ScyllaDB linked into backups/ since the last backup"},
          {"--no-flush", "with --incremental: take only what is flushed already"},
          PARALLEL("nodes uploading"), {"--rate-limit MiB/s", "upload at most this fast, per node"},
          {"--no-retention", "skip the retention pass (cairn expire) after the backup"}, METRICS,
          JSON)},
    {"list", "", "complete backups of the cluster, newest first", OPTS(JSON)},
    {"show", "TAG|latest", "what a backup holds: nodes, tables, sizes",
     OPTS({"--files", "list every file too: host id, table, name, size and blob id"}, JSON)},
    {"restore", "TAG|latest|--at TIME", "play a backup back onto the cluster",
     OPTS({"--at TIME", "the newest backup or increment at or before TIME (RFC 3339, or -15m)"},
          {"--from-cluster NAME", "restore a backup of cluster NAME rather than this one"}, FILTERS,
          {"--schema", "create the keyspaces and tables the backup holds, before loading"},
          {"--auth", "create the roles, service levels and grants the backup holds too"},
          {"--no-data", "load no data (with --schema: the schema alone)"},
          {"--method M", "auto, refresh or load-and-stream (default auto)"},
          {"--into-nonempty", "load into tables that already hold data"},
          {"--dry-run", "print the plan and change nothing"}, PARALLEL("nodes downloading"),
          METRICS, JSON)},
    {"delete", "TAG...", "remove backups; their blobs stay until cairn purge",
     OPTS({"--yes", "do not ask; needed when standard input is not a terminal"}, JSON)},
    {"expire", "", "apply the retention policy of the configuration",
     OPTS({"--dry-run", "say what would be deleted, and delete nothing"}, JSON)},
    {"snapshots", "", "snapshots cairn left on the nodes",
     OPTS({"--clear", "remove every listed snapshot that no backup is using"}, JSON)},
    {"info", "", "the repository: id, format, size, retention", OPTS(JSON)},
    {"purge", "", "remove the blobs no complete backup references",
     OPTS({"--dry-run", "say what would be removed, and remove nothing"},
          {"--grace DURATION", "keep what is younger than this (default 24h; e.g. 90m, 0)"},
          METRICS, JSON)},
    {"verify", "[TAG|latest]", "check that backups are whole and intact (default: this cluster's)",
     OPTS({"--all", "every backup of every cluster in the repository"},
          {"--read-data[=PERCENT]", "download and check the blobs, all or PERCENT of them"},
          {"--repair", "rewrite what can be rewritten from the nodes' snapshots"}, METRICS, JSON)},
    {"repo", "init", "manage the repository", NO_OPTS},
    {"repo init", "", "create the repository (cairn.repo) at `repository`", NO_OPTS},
    {"certs", "init|issue ...", "create the cluster CA and its certificates", NO_OPTS},
    {"certs init", "--dir DIR", "create the cluster CA (ca.crt, ca.key) in DIR",
     OPTS({"--dir DIR", "where the CA goes; keep ca.key off the nodes"})},
    {"certs issue", "--dir DIR (--agent HOST | --coordinator NAME)...",
     "issue certificates signed by the CA in DIR",
     OPTS({"--dir DIR", "the directory of the CA; the certificates are written there"},
          {"--agent HOST", "a server certificate for the agent on HOST; repeatable"},
          {"--coordinator NAME", "a client certificate for a coordinator; repeatable"})},
    {"incremental", "enable|disable", "turn ScyllaDB's incremental backups on or off, at runtime",
     OPTS(JSON)},
    {"check-config", "",
     "check the configuration and every file it names, and say how to fix each problem", NO_OPTS},
    {"version", "", "print the version", NO_OPTS},
    {"help", "[COMMAND [SUBCOMMAND]]", "print the help of a command", NO_OPTS},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

const cmdhelp *cmdhelp_find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

const cmdhelp *cmdhelp_of(int argc, char **argv)
{
    if (argc < 1)
        return NULL;
    if (argc > 1 && argv[1][0] != '-') {
        char sub[64];
        int n = snprintf(sub, sizeof(sub), "%s %s", argv[0], argv[1]);
        const cmdhelp *h = n > 0 && (size_t)n < sizeof(sub) ? cmdhelp_find(sub) : NULL;
        if (h)
            return h;
    }
    return cmdhelp_find(argv[0]);
}

const char *cmdhelp_name(const cmdhelp *h)
{
    return h->name;
}

/* One option of the table: "--tag T", "--read-data[=PERCENT]" or "--json". */
static bool add_option(const char *flag, struct option *opt, char **names, size_t *left)
{
    CAIRN_ASSERT(strncmp(flag, "--", 2) == 0);
    const char *name = flag + 2;
    size_t len = strcspn(name, " [=");
    if (len + 1 > *left)
        return false;
    memcpy(*names, name, len);
    (*names)[len] = '\0';
    int has_arg = name[len] == '[' ? optional_argument
                  : name[len]      ? required_argument
                                   : no_argument;
    *opt = (struct option){*names, has_arg, NULL, 1};
    *names += len + 1;
    *left -= len + 1;
    return true;
}

size_t cmdhelp_getopt_table(const cmdhelp *h, struct option *opts, size_t cap, char *names,
                            size_t names_cap)
{
    size_t n = 0;
    for (const cmdhelp_opt *o = h->opts;; o++) {
        if (n + 1 >= cap)
            return 0;
        const char *flag = o->flag ? o->flag : "--help";
        if (!add_option(flag, &opts[n++], &names, &names_cap))
            return 0;
        if (!o->flag)
            break;
    }
    opts[n] = (struct option){NULL, 0, NULL, 0};
    return n;
}

void cmdhelp_print(FILE *f, const cmdhelp *h)
{
    bool has_opts = h->opts[0].flag != NULL;
    fprintf(f, "usage: cairn %s%s%s%s\n\n%s\n", h->name, h->args[0] ? " " : "", h->args,
            has_opts ? " [OPTIONS]" : "", h->summary);
    fprintf(f, "\noptions:\n");
    for (const cmdhelp_opt *o = h->opts; o->flag; o++)
        fprintf(f, "  %-22s %s\n", o->flag, o->what);
    fprintf(f, "  %-22s %s\n", "-h, --help", "print this help");
    size_t len = strlen(h->name);
    bool listed = false;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strncmp(commands[i].name, h->name, len) != 0 || commands[i].name[len] != ' ')
            continue;
        fprintf(f, "%s  cairn %s --help\n", listed ? "" : "\nsubcommands:\n", commands[i].name);
        listed = true;
    }
}

void cmdhelp_print_name(FILE *f, const char *name)
{
    const cmdhelp *h = cmdhelp_find(name);
    CAIRN_ASSERT(h != NULL);
    cmdhelp_print(f, h);
}

void cmdhelp_overview(FILE *f)
{
    fprintf(f,
            "usage: cairn [-c CLUSTER.yaml] [-v] [--check-config] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const cmdhelp *h = &commands[i];
        if (strchr(h->name, ' '))
            continue; /* `cairn repo --help` lists them */
        char head[64];
        snprintf(head, sizeof(head), "%s%s%s", h->name, h->args[0] ? " " : "", h->args);
        fprintf(f, "  %-28s %s\n", head, h->summary);
    }
    fprintf(f, "\n"
               "  -c FILE         cluster configuration (default: ./cairn.yaml, then\n"
               "                  /etc/cairn/cluster.yaml); relative paths in it are read\n"
               "                  from its directory\n"
               "  -v              verbose logging\n"
               "  --check-config  as the command check-config\n"
               "`cairn COMMAND --help` describes the options of a command; docs/ is the user "
               "guide.\n");
}

bool cmdhelp_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}
