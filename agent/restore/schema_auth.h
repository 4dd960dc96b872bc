/*
 * schema_auth - the roles, grants and service levels of a schema dump, as
 * restore/schema_apply.c judges and creates them (restore --auth).
 *
 * ScyllaDB 2025.1+ describes them with a null keyspace, as the types "role",
 * "service_level", "grant_role", "grant_permission" and "service_level_attachment".
 * Their names do not tell them apart (a grant is named by its grantee, an attachment
 * by its service level), so each has a key: the object it defines on the target. Two
 * objects of one kind with one key are the same object; with another statement, a
 * conflict. Statements of roles hold salted hashes: they never go into a label.
 */
#ifndef CAIRN_SCHEMA_AUTH_H
#define CAIRN_SCHEMA_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* ScyllaDB's default superuser: every target has its own, which a restore keeps. */
#define SCHEMA_AUTH_SUPERUSER "cassandra"

/* The place of an auth kind in creation order (roles first, attachments last); -1 for
 * any other type. */
int schema_auth_rank(const char *type);

/* How many auth kinds there are (ranks 0 .. n-1). */
size_t schema_auth_kinds(void);

/* The auth type of rank r. */
const char *schema_auth_kind(size_t r);

/*
 * The key of an auth object, as *key and *len (pointing into name or stmt): the role or
 * service level's name; an attachment's role; a grant's statement (without its
 * semicolon), since a grant either exists or does not.
 */
void schema_auth_key(const char *type, const char *name, const char *stmt, const char **key,
                     size_t *len);

/* How a report names the object: "role alice", "service level sl", or a grant's or an
 * attachment's statement without its semicolon. Names are escaped (base/text.h). */
void schema_auth_label(const char *type, const char *name, const char *stmt, char *out, size_t cap);

/*
 * The keyspace that a grant_permission statement's resource lives in, unquoted, into
 * ks (cap bytes): false for resources outside keyspaces (ALL KEYSPACES, roles, ALL
 * FUNCTIONS) or a statement it does not understand.
 */
bool schema_auth_grant_keyspace(const char *stmt, char *ks, size_t cap);

#endif
