/* DOC: api_auth.c — the tokens file. See api_auth.h. */
#include "api_auth.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MIN 16
#define TOKEN_MAX 256

struct token {
	char *secret;
	struct api_ident id;
};

struct api_auth {
	struct token *t;
	size_t n;
};

void api_auth_free(struct api_auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->t[i].secret);
	free(a->t);
	free(a);
}

size_t api_auth_count(const struct api_auth *a)
{
	return a->n;
}

/* One line's words after the token: role, then key=value options. */
static int parse_opts(char *save, struct api_ident *id, unsigned line, const char *origin,
		      char *err, size_t errlen)
{
	char *role = strtok_r(NULL, " \t", &save);
	if (!role || (strcmp(role, "admin") != 0 && strcmp(role, "read-only") != 0)) {
		snprintf(err, errlen, "%s:%u: the role after the token must be admin or read-only",
			 origin, line);
		return -EINVAL;
	}
	id->role = strcmp(role, "admin") == 0 ? API_ROLE_ADMIN : API_ROLE_READ;
	char *w;
	while ((w = strtok_r(NULL, " \t", &save))) {
		if (strncmp(w, "project=", 8) == 0 && w[8] && strlen(w + 8) <= API_NAME_MAX) {
			snprintf(id->project, sizeof(id->project), "%s", w + 8);
		} else if (strncmp(w, "name=", 5) == 0 && w[5]) {
			snprintf(id->name, sizeof(id->name), "%s", w + 5);
		} else {
			snprintf(err, errlen, "%s:%u: '%s': expected project=NAME or name=LABEL",
				 origin, line, w);
			return -EINVAL;
		}
	}
	return 0;
}

static int add_line(struct api_auth *a, char *s, unsigned line, const char *origin, char *err,
		    size_t errlen)
{
	char *save = NULL;
	char *tok = strtok_r(s, " \t", &save);
	if (!tok || tok[0] == '#')
		return 0;
	size_t n = strlen(tok);
	if (n < TOKEN_MIN || n > TOKEN_MAX) {
		snprintf(err, errlen, "%s:%u: a token is %d to %d characters (this one has %zu); "
			 "make one with: head -c 24 /dev/urandom | base64", origin, line, TOKEN_MIN,
			 TOKEN_MAX, n);
		return -EINVAL;
	}
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->t[i].secret, tok) == 0) {
			snprintf(err, errlen, "%s:%u: the same token appears twice", origin, line);
			return -EINVAL;
		}
	struct api_ident id = { 0 };
	snprintf(id.name, sizeof(id.name), "token@%s:%u", origin, line);
	int rc = parse_opts(save, &id, line, origin, err, errlen);
	if (rc < 0)
		return rc;
	struct token *t = realloc(a->t, (a->n + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	a->t = t;
	t[a->n].secret = strdup(tok);
	if (!t[a->n].secret)
		return -ENOMEM;
	t[a->n].id = id;
	a->n++;
	return 0;
}

struct api_auth *api_auth_parse(const char *text, const char *origin, char *err,
				size_t errlen)
{
	struct api_auth *a = calloc(1, sizeof(*a));
	char *copy = strdup(text);
	if (!a || !copy) {
		free(copy);
		free(a);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	char *save = NULL, *line;
	unsigned no = 0;
	/* strtok_r would skip empty lines and lose the numbering: split by hand */
	for (line = copy; line; line = save) {
		save = strchr(line, '\n');
		if (save)
			*save++ = 0;
		no++;
		char *cr = strchr(line, '\r');
		if (cr)
			*cr = 0;
		if (add_line(a, line, no, origin, err, errlen) < 0) {
			free(copy);
			api_auth_free(a);
			return NULL;
		}
	}
	free(copy);
	if (a->n == 0) {
		snprintf(err, errlen, "%s: no token in the file (one per line: TOKEN admin|read-only "
			 "[project=NAME] [name=LABEL])", origin);
		api_auth_free(a);
		return NULL;
	}
	return a;
}

struct api_auth *api_auth_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open the tokens file: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&buf, &cap, 0, f);
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		snprintf(err, errlen, "%s: cannot read the tokens file", path);
		return NULL;
	}
	struct api_auth *a = api_auth_parse(n > 0 ? buf : "", path, err, errlen);
	free(buf);
	return a;
}

/* Compare in time that depends on the length only: a token is a secret. */
static bool same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

int api_auth_check(const struct api_auth *a, const char *token, struct api_ident *id)
{
	for (size_t i = 0; i < a->n; i++)
		if (same(a->t[i].secret, token)) {
			*id = a->t[i].id;
			return 0;
		}
	return -ENOENT;
}
