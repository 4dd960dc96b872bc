/*
 * repo_impl - what the modules of common/repo share and nothing above them sees: the
 * store under a repository. Code outside common/repo goes through repo.h, so that the
 * repository layout (which keys exist, how they are read) stays in this folder.
 */
#ifndef CAIRN_REPO_IMPL_H
#define CAIRN_REPO_IMPL_H

#include "repo/repo.h"
#include "store/store.h"

store *repo_store(repo *r);

#endif
