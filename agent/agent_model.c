/*
 * DOC: agent_model.c — the agent's mirror of the tern-api objects it needs,
 * kept as the JSON tern-api sends (kind -> uuid -> object). The objects are
 * small and few per node; jansson's hash tables give uuid look-ups, and
 * fq_name look-ups walk one kind (hundreds of objects, on CNI requests only).
 */
#include <errno.h>
#include <string.h>

#include "agent_internal.h"

int agent_model_init(struct agent *a)
{
	a->model = json_object();
	return a->model ? 0 : -ENOMEM;
}

static json_t *kind_table(struct agent *a, const char *kind)
{
	json_t *t = json_object_get(a->model, kind);
	if (!t) {
		t = json_object();
		json_object_set_new(a->model, kind, t);
	}
	return t;
}

static uint64_t version_of(json_t *o)
{
	json_t *v = json_object_get(o, "version");
	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

void agent_model_put(struct agent *a, const char *kind, json_t *obj)
{
	const char *uuid = json_string_value(json_object_get(obj, "uuid"));
	if (!uuid)
		return;
	json_t *t = kind_table(a, kind);
	json_t *old = json_object_get(t, uuid);
	/* The watch may bring a write the agent already has (its own create). */
	if (old && version_of(old) > version_of(obj))
		return;
	json_object_set(t, uuid, obj);
	agent_on_object(a, kind, obj, false);
}

void agent_model_apply(struct agent *a, const struct agent_api_event *ev)
{
	switch (ev->type) {
	case AGENT_API_UPSERT:
		TLOG_DEBUG(&a->log, "tern-api: %s %s revision %llu", ev->kind, ev->uuid,
			   (unsigned long long)ev->revision);
		agent_model_put(a, ev->kind, ev->object);
		break;
	case AGENT_API_DELETE: {
		json_t *t = kind_table(a, ev->kind);
		json_t *old = json_object_get(t, ev->uuid);
		if (!old)
			break;
		json_incref(old);
		json_object_del(t, ev->uuid);
		TLOG_DEBUG(&a->log, "tern-api: %s %s deleted", ev->kind, ev->uuid);
		agent_on_object(a, ev->kind, old, true);
		json_decref(old);
		break;
	}
	case AGENT_API_SYNCED:
		if (!a->api_synced)
			TLOG_INFO(&a->log, "tern-api: synced");
		a->api_synced = true;
		agent_fip_sync(a);  /* floating IPs of the state file deleted meanwhile go */
		break;
	case AGENT_API_DOWN:
		TLOG_WARN(&a->log, "tern-api: %s (the vrouter keeps forwarding)",
			  ev->message ? ev->message : "down");
		break;
	}
}

json_t *agent_model_get(struct agent *a, const char *kind, const char *uuid)
{
	return uuid ? json_object_get(kind_table(a, kind), uuid) : NULL;
}

json_t *agent_model_by_fq(struct agent *a, const char *kind, const char *fq_name)
{
	const char *k;
	json_t *o;
	if (!fq_name)
		return NULL;
	json_object_foreach(kind_table(a, kind), k, o) {
		const char *fq = json_string_value(json_object_get(o, "fq_name"));
		if (fq && !strcmp(fq, fq_name))
			return o;
	}
	return NULL;
}

json_t *agent_model_ref(struct agent *a, const char *kind, const char *ref, const char *project)
{
	if (!ref || !*ref)
		return NULL;
	json_t *o = agent_model_get(a, kind, ref);
	if (o)
		return o;
	if (strchr(ref, ':') || !project)
		return agent_model_by_fq(a, kind, ref);
	char fq[256];
	snprintf(fq, sizeof(fq), "%s:%s", project, ref);
	return agent_model_by_fq(a, kind, fq);
}
