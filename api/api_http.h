/*
 * DOC: api_http.h — the REST/JSON front of tern-api on libmicrohttpd.
 *
 *   POST   /v1/<kind>              create (201)
 *   GET    /v1/<kind>              list (?project= ?parent= ?label=k=v ?name= ?fq_name=)
 *   GET    /v1/<kind>/<uuid>       read
 *   PUT    /v1/<kind>/<uuid>       replace (409 on a stale "version")
 *   DELETE /v1/<kind>/<uuid>       delete (409 while referred to)
 *   GET    /v1/watch?since=<rev>   server-sent events (also Last-Event-ID)
 *   GET    /v1/kinds, /v1/health   the schema's kinds; {"revision": N}
 *
 * Every request but /v1/health needs "Authorization: Bearer <token>" unless
 * the daemon runs with --no-auth. One thread serves every connection: a
 * write waits for its store outcome, and an idle watch for the next event,
 * with its connection suspended (see api_http.c).
 */
#ifndef TERN_API_HTTP_H
#define TERN_API_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "api_auth.h"
#include "api_core.h"
#include "tern_log.h"

struct api_http_cfg {
	const char *addr;      /* "127.0.0.1", "::1", "0.0.0.0" */
	uint16_t port;         /* 0: any free port (see api_http_port) */
	const char *tls_cert;  /* PEM text, NULL: plain HTTP */
	const char *tls_key;
	unsigned max_conns;
};

struct api_http;

/* Listen and serve, on a thread of its own. Returns NULL with err. */
struct api_http *api_http_start(const struct api_http_cfg *cfg, struct api_core *core,
				const struct api_auth *auth, struct tern_log *lg, char *err,
				size_t errlen);
/* The port actually bound. */
uint16_t api_http_port(const struct api_http *h);
/* Stop serving: ends watches (api_core_stop), waits a little for the writes
 * under way to be answered, joins the thread. */
void api_http_stop(struct api_http *h);

#endif /* TERN_API_HTTP_H */
