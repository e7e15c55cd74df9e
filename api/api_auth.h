/*
 * DOC: api_auth.h — bearer tokens for tern-api, from a tokens file:
 *
 *   # TOKEN                ROLE        [project=NAME] [name=LABEL]
 *   0c2f...e1              admin                       name=operator
 *   9a1b...07              read-only                   name=dashboard
 *   77de...4c              admin       project=demo    name=demo-ci
 *
 * admin may write, read-only may only read; a token with project= reaches
 * only that project's objects (and reads global ones). Tokens are at least
 * 16 characters; the file should be mode 0600 (a warning says so otherwise).
 */
#ifndef TERN_API_AUTH_H
#define TERN_API_AUTH_H

#include <stddef.h>

#include "api_core.h"

struct api_auth;

/* Load the tokens file. Returns NULL with err naming the file, the line and
 * what is wrong. */
struct api_auth *api_auth_load(const char *path, char *err, size_t errlen);
/* Parse tokens from text (the file's content); same errors. */
struct api_auth *api_auth_parse(const char *text, const char *origin, char *err,
				size_t errlen);
void api_auth_free(struct api_auth *a);
/* The identity of token; 0, or -ENOENT for an unknown token. */
int api_auth_check(const struct api_auth *a, const char *token, struct api_ident *id);
/* Tokens loaded. */
size_t api_auth_count(const struct api_auth *a);

#endif /* TERN_API_AUTH_H */
