/*
 * DOC: api_model.h — the object model of tern-api as one schema table.
 *
 * Every kind (project, virtual-network, ...) is a row of api_kinds[]: its
 * fields with their types, ranges, enumerations and references, plus an
 * optional check for rules that span fields (subnets that overlap, a gateway
 * outside its subnet). One generic walker decodes and validates any kind, so
 * adding a kind or a field is a table edit, never new decoding code.
 *
 * Decoding is pure (no store): JSON bytes -> a normalised jansson object that
 * holds only known fields, with defaults filled. Checks that need other
 * objects (references, addresses inside the network's subnets, allocation)
 * are api_core's.
 *
 * Every error fills struct api_err: an HTTP status, the path of the field
 * ("subnets[1].gateway") and a message saying what is wrong.
 */
#ifndef TERN_API_MODEL_H
#define TERN_API_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_BODY_MAX   (256 * 1024) /* a request body above this gets 413 */
#define API_NAME_MAX   63
#define API_FIELD_LEN  128
#define API_MSG_LEN    512

struct api_err {
	int status;                 /* 400, 401, 403, 404, 409, 413, 500, ... */
	char field[API_FIELD_LEN];  /* path of the offending field, "" when none */
	char msg[API_MSG_LEN];      /* what is wrong, for a person */
	int64_t oldest;             /* 410: the oldest revision still in the event log */
};

/* Fill e; returns -1 so that callers can `return api_errf(...)`. */
int api_errf(struct api_err *e, int status, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

enum api_ftype {
	API_T_STRING, API_T_INT, API_T_BOOL, API_T_ENUM,
	API_T_IP, API_T_CIDR, API_T_MAC, API_T_RT,
	API_T_REF,     /* a reference to another object (by fq_name, name or UUID) */
	API_T_MAP,     /* string -> string (labels, parameters) */
	API_T_OBJECT,  /* nested fields in sub[] */
	API_T_LIST,    /* items described by sub[0] */
};

#define API_F_REQUIRED 0x1  /* must be present */
#define API_F_ALLOC    0x2  /* allocated when absent; kept across updates when omitted */
#define API_F_UNIQUE   0x4  /* LIST: items must differ */

struct api_field {
	const char *name;
	enum api_ftype type;
	unsigned flags;
	int64_t min, max;              /* INT: range; STRING: max length; LIST: max items */
	const char *ref_kind;          /* REF: the kind referred to */
	const char *const *enums;      /* ENUM: NULL-terminated */
	const struct api_field *sub;   /* OBJECT: fields, until name == NULL; LIST: sub[0] */
};

struct api_kind {
	const char *name;              /* "virtual-network": the URL segment */
	const char *alias;             /* "vn" */
	bool scoped;                   /* belongs to a project: fq_name is project:name */
	const char *parent_field;      /* REF field naming the parent; NULL: the project */
	const struct api_field *fields;
	/* Rules across fields, run after the type checks; fills defaults too.
	 * Returns 0 or -1 with e filled. */
	int (*check)(json_t *obj, struct api_err *e);
};

/* The kind named name or alias, NULL when there is none. */
const struct api_kind *api_kind_find(const char *name);
/* The i-th kind, NULL past the last: for listing them. */
const struct api_kind *api_kind_at(unsigned i);

/* Parse a request body: size limit (413), JSON syntax (400 with line and
 * column), duplicate keys refused. On success *out is a new reference. */
int api_parse(const char *body, size_t len, json_t **out, struct api_err *e);

/* Decode a request body for kind k: api_parse, then api_validate. On
 * success *out is a new reference. */
int api_decode(const struct api_kind *k, const char *body, size_t len, json_t **out,
	       struct api_err *e);

/* Validate a parsed object: metadata (kind, name, project, labels, uuid,
 * version, description), every field's type and range, unknown fields, the
 * kind's check. *out is a new normalised object. Returns 0 or -1 (e filled,
 * status 400). */
int api_validate(const struct api_kind *k, json_t *in, json_t **out, struct api_err *e);

/* Call cb for every reference in obj (validated): path is the field path,
 * holder/key or holder/index locate the value so cb can rewrite it (key is
 * NULL for an array item). Stops at and returns cb's first non-zero. */
typedef int (*api_ref_cb)(void *arg, const char *path, const struct api_field *f,
			  json_t *holder, const char *key, size_t index);
int api_refs_walk(const struct api_kind *k, json_t *obj, api_ref_cb cb, void *arg);

/* True when s is a canonical lowercase UUID string. */
bool api_is_uuid(const char *s);

#endif /* TERN_API_MODEL_H */
