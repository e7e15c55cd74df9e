/*
 * DOC: ctl_out.h — every byte ternctl prints about vrouter objects: readable
 * columns (a legend for flag letters built from the table that prints them)
 * and JSON (-o json, via jansson). No other file formats object data.
 *
 * Lists stream: rows are printed as they arrive, page after page, so a huge
 * table is never held in memory.
 */
#ifndef TERN_CTL_OUT_H
#define TERN_CTL_OUT_H

#include <stdio.h>
#include "vr_msg.h"

enum out_fmt { OUT_TABLE, OUT_JSON };

struct out {
	enum out_fmt fmt;
	FILE *f;
	uint16_t obj;     /* object type of the list in progress */
	unsigned rows;    /* rows printed so far in the list in progress */
};

/* Parse "table" / "json" (-o). Returns 0 or -EINVAL. */
int out_parse_fmt(const char *s, enum out_fmt *fmt);
void out_init(struct out *o, enum out_fmt fmt, FILE *f);

/* A list: the legend and header (table) or "[" (JSON), rows, the end. */
void out_list_begin(struct out *o, uint16_t obj);
/* Returns 0, or -ENOMEM when the JSON could not be built. */
int out_list_row(struct out *o, const struct vr_object *obj);
void out_list_end(struct out *o);

/* One object with every attribute it has, "Key: value" lines or a JSON
 * object. Returns 0 or -ENOMEM. */
int out_detail(struct out *o, const struct vr_object *obj);

/* Drop statistics: reason, count, description; zero counters only when all
 * is set. Returns 0 or -ENOMEM. */
int out_drops(struct out *o, const struct vr_object *obj, int all);

/* A policy with its rules and their counters (GET): detail lines and a rule
 * table, or one JSON object with "rule_list". Returns 0 or -ENOMEM. */
int out_policy(struct out *o, const struct vr_object *obj);
/* A service with its backends and their new-flow counters (get). */
int out_service(struct out *o, const struct vr_object *obj);

/* Table only: the rules of a policy (GET reply) that denied packets, under a
 * "POLICY_DENY by rule" title printed before the first (*shown counts them). */
void out_policy_denies(struct out *o, const struct vr_object *obj, unsigned *shown);

/* The outcome of a change: "vif 3 added" or, in JSON, the object the vrouter
 * returned, else {"object":..,"key":..,"result":what}. Returns 0 or -ENOMEM. */
int out_done(struct out *o, const struct vr_object *key, const struct vr_object *reply,
	     const char *what);

#endif /* TERN_CTL_OUT_H */
