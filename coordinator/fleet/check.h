/*
 * check - is the cluster ready to be backed up?
 *
 * Compares the agents the configuration names with the ring as ScyllaDB sees it:
 * every ring node must have exactly one reachable agent and be up. Nodes are matched
 * by host id, never by address.
 */
#ifndef CAIRN_CHECK_H
#define CAIRN_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "fleet/fleet.h"

typedef enum { CHECK_AGENT_OK, CHECK_AGENT_MISSING, CHECK_AGENT_UNREACHABLE } check_agent_state;

/* Why an agent is unreachable, each with its own label and its own fix. */
typedef enum {
    CHECK_FAULT_NONE,
    CHECK_FAULT_DOWN,    /* nothing accepts connections at its address */
    CHECK_FAULT_SILENT,  /* connected or not, no answer in time */
    CHECK_FAULT_TLS,     /* the TLS handshake failed */
    CHECK_FAULT_CLUSTER, /* it answered for another cluster */
    CHECK_FAULT_SCYLLA,  /* it answered, but its ScyllaDB does not answer it */
    CHECK_FAULT_OTHER
} check_fault;

/* "agent down", "TLS refused", ...: how status labels the fault. */
const char *check_fault_label(check_fault f);

typedef struct check_node {
    const char *host_id; /* NULL for an agent that could not be reached */
    const char *address;
    const char *dc;
    const char *rack;
    const char *version;
    bool up;
    check_agent_state agent;
    check_fault fault; /* when agent is UNREACHABLE */
    long rtt_ms;
    const char *agent_addr; /* the configured agent, when there is one */
    size_t agent_index;     /* into the fleet, when agent != MISSING */
} check_node;

typedef struct check_result {
    bool ready;
    check_node *nodes;
    size_t n_nodes;
    char **problems;
    size_t n_problems;
} check_result;

/* Describes every agent (fleet_describe) and judges the cluster. Strings in r point
 * into the fleet and live as long as it does; problems are owned by r. */
int check_cluster(fleet *f, check_result *r, cairn_err *e);
void check_result_free(check_result *r);

/* Asks every described agent whether it sees the repository at url (opened here with o)
 * and adds a problem, naming the node, for each that does not; r->ready follows. A
 * repository not created yet is no problem: the first backup creates it. */
struct store_options;
int check_repository(fleet *f, const char *url, const struct store_options *o, unsigned parallel,
                     check_result *r, cairn_err *e);

/* Prints the problems as a person reads them, one per line on stderr. */
void check_print_problems(const check_result *r);

#endif
