/*
 * DOC: ctl_api.c — ternctl apply / get / delete against tern-api (REST/JSON
 * over libcurl; YAML read with libyaml and turned into the same JSON the
 * API takes). See ctl_api.h.
 *
 * apply is "create or replace by name": it looks the object up by fq_name,
 * then PUTs with the version it just read (so a change made by someone else
 * in between is refused with 409, never overwritten) or POSTs.
 */
#include "ctl_api.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct cli {
	struct ctl *ctl;
	const char *url;       /* base URL, no trailing slash */
	const char *token;
	const char *project;   /* default project for bare names, may be NULL */
	const char *label;
	const char *file;
	const char *cacert;
	char urlbuf[1024];     /* url without trailing slashes */
	CURL *curl;
	json_t *kinds;         /* from GET /v1/kinds */
};

struct buf {
	char *p;
	size_t n;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;
	char *p = realloc(b->p, b->n + len + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, data, len);
	b->n += len;
	p[b->n] = 0;
	b->p = p;
	return len;
}

/* One request. Returns the HTTP status (>= 100) with *reply the parsed JSON
 * body (NULL if none), or -1 after printing why the server was not reached. */
static long request(struct cli *a, const char *method, const char *path, json_t *body,
		    json_t **reply)
{
	char url[2048], auth[600];
	struct buf b = { 0 };
	struct curl_slist *h = NULL;
	char *text = NULL;
	*reply = NULL;
	snprintf(url, sizeof(url), "%s%s", a->url, path);
	curl_easy_reset(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, 60L);
	if (a->cacert)
		curl_easy_setopt(a->curl, CURLOPT_CAINFO, a->cacert);
	if (a->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->token);
		h = curl_slist_append(h, auth);
	}
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, text ? text : "");
	}
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
	CURLcode rc = curl_easy_perform(a->curl);
	curl_slist_free_all(h);
	free(text);
	if (rc != CURLE_OK) {
		bool tls = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
			   rc == CURLE_SSL_CACERT_BADFILE;
		ctl_err("cannot reach tern-api at %s: %s (%s)", a->url, curl_easy_strerror(rc),
			tls ? "give the server's CA certificate with --cacert FILE" :
			"is it running? set --api URL or TERN_API");
		free(b.p);
		return -1;
	}
	long status = 0;
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
	if (b.p)
		*reply = json_loads(b.p, 0, NULL);
	free(b.p);
	return status;
}

/* Print the server's error for what ("virtual-network demo:vn1"). */
static void api_error(const char *what, long status, json_t *reply)
{
	json_t *e = json_object_get(reply, "error");
	const char *field = json_string_value(json_object_get(e, "field"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *hint = status == 401 ? " (give a token: --token or TERN_TOKEN)" : "";
	if (!msg)
		ctl_err("%s: the server answered %ld with no explanation", what, status);
	else if (field && *field)
		ctl_err("%s: %s: %s%s", what, field, msg, hint);
	else
		ctl_err("%s: %s%s", what, msg, hint);
}

/* The kind named name (full or short), as its full name; NULL after an
 * error message. */
static const char *kind_of(struct cli *a, const char *name, bool *scoped)
{
	if (!a->kinds) {
		json_t *r;
		long st = request(a, "GET", "/v1/kinds", NULL, &r);
		if (st < 0)
			return NULL;
		if (st != 200) {
			api_error("kinds", st, r);
			json_decref(r);
			return NULL;
		}
		a->kinds = r;
	}
	size_t i;
	json_t *k;
	char list[1024];
	size_t n = 0;
	list[0] = 0;
	json_array_foreach(json_object_get(a->kinds, "kinds"), i, k) {
		const char *full = json_string_value(json_object_get(k, "name"));
		const char *alias = json_string_value(json_object_get(k, "alias"));
		if (strcmp(name, full) == 0 || strcmp(name, alias) == 0) {
			*scoped = json_is_true(json_object_get(k, "project_scoped"));
			return full;
		}
		if (n < sizeof(list))
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s (%s)", i ? ", " : "",
					      full, alias);
	}
	ctl_err("unknown kind '%s'; kinds are: %s", name, list);
	return NULL;
}

/* ---- output --------------------------------------------------------------------- */

/* Columns per kind beyond NAME and VERSION: header and field. */
struct col {
	const char *kind, *head, *field;
};

static const struct col cols[] = {
	{ "virtual-network", "VNI", "vni" },
	{ "virtual-network", "SUBNETS", "subnets" },
	{ "virtual-network", "MODE", "forwarding_mode" },
	{ "virtual-network", "EXPORT", "route_target_export" },
	{ "virtual-machine-interface", "NETWORK", "virtual_network" },
	{ "virtual-machine-interface", "MAC", "mac" },
	{ "virtual-machine-interface", "TYPE", "interface_type" },
	{ "virtual-machine-interface", "NODE", "node" },
	{ "virtual-machine-interface", "OWNER", "owner" },
	{ "instance-ip", "ADDRESS", "address" },
	{ "instance-ip", "NETWORK", "virtual_network" },
	{ "instance-ip", "INTERFACE", "virtual_machine_interface" },
	{ "virtual-router", "FABRIC", "fabric_address" },
	{ "virtual-router", "VROUTERS", "vrouters" },
	{ "bgp-router", "ADDRESS", "address" },
	{ "bgp-router", "ASN", "asn" },
	{ "bgp-router", "TYPE", "router_type" },
	{ "floating-ip-pool", "NETWORK", "virtual_network" },
	{ "floating-ip", "POOL", "floating_ip_pool" },
	{ "floating-ip", "ADDRESS", "address" },
	{ "service", "NETWORK", "virtual_network" },
	{ "service", "VIP", "vip" },
	{ "service", "PORT", "port" },
	{ "network-policy", "RULES", "rules" },
	{ "security-group", "RULES", "rules" },
};
#define N_COLS (sizeof(cols) / sizeof(cols[0]))
#define MAX_COLS 8

/* A cell: strings as they are, numbers, lists joined by ',' (subnets by
 * their cidr, vrouters by name), other lists by their length. */
static void cell(json_t *v, char *out, size_t len)
{
	out[0] = 0;
	if (!v || json_is_null(v)) {
		snprintf(out, len, "-");
	} else if (json_is_string(v)) {
		snprintf(out, len, "%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		snprintf(out, len, "%lld", (long long)json_integer_value(v));
	} else if (json_is_array(v)) {
		size_t i, n = 0;
		json_t *x;
		json_array_foreach(v, i, x) {
			const char *s = json_is_string(x) ? json_string_value(x) :
				json_string_value(json_object_get(x, "cidr")) ?:
				json_string_value(json_object_get(x, "name"));
			if (!s) {
				snprintf(out, len, "%zu", json_array_size(v));
				return;
			}
			if (n < len)
				n += (size_t)snprintf(out + n, len - n, "%s%s", i ? "," : "", s);
		}
		if (!i)
			snprintf(out, len, "-");
	} else {
		snprintf(out, len, "%s", json_is_true(v) ? "true" : json_is_false(v) ? "false" : "...");
	}
}

static void print_table(const char *kind, json_t *items)
{
	const struct col *mine[MAX_COLS];
	unsigned nc = 0;
	for (unsigned i = 0; i < N_COLS && nc < MAX_COLS; i++)
		if (strcmp(cols[i].kind, kind) == 0)
			mine[nc++] = &cols[i];
	size_t rows = json_array_size(items), ncol = nc + 3;
	char (*cells)[128] = calloc((rows + 1) * ncol, 128);
	int *w = calloc(ncol, sizeof(int));
	if (!cells || !w) {
		free(cells);
		free(w);
		ctl_err("out of memory");
		return;
	}
	snprintf(cells[0], 128, "NAME");
	for (unsigned c = 0; c < nc; c++)
		snprintf(cells[1 + c], 128, "%s", mine[c]->head);
	snprintf(cells[nc + 1], 128, "VERSION");
	snprintf(cells[nc + 2], 128, "UUID");
	for (size_t r = 0; r < rows; r++) {
		json_t *o = json_array_get(items, r);
		char (*row)[128] = cells + (r + 1) * ncol;
		cell(json_object_get(o, "fq_name"), row[0], 128);
		for (unsigned c = 0; c < nc; c++)
			cell(json_object_get(o, mine[c]->field), row[1 + c], 128);
		cell(json_object_get(o, "version"), row[nc + 1], 128);
		cell(json_object_get(o, "uuid"), row[nc + 2], 128);
	}
	for (size_t r = 0; r <= rows; r++)
		for (size_t c = 0; c < ncol; c++) {
			int l = (int)strlen(cells[r * ncol + c]);
			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r <= rows; r++) {
		for (size_t c = 0; c < ncol; c++)
			printf(c + 1 < ncol ? "%-*s  " : "%-*s\n", c + 1 < ncol ? w[c] : 0,
			       cells[r * ncol + c]);
	}
	if (!rows)
		fprintf(stderr, "no %s objects\n", kind);
	free(cells);
	free(w);
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2));
	if (s)
		printf("%s\n", s);
	free(s);
}

/* ---- options ---------------------------------------------------------------------- */

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

/* Take this family's options out of argv (anywhere); the rest are
 * positional. Returns CTL_OK or an exit code. */
static int parse(struct cli *a, int *argc, char **argv)
{
	int n = 1;
	for (int i = 1; i < *argc; i++) {
		const char *o = argv[i], **dst = NULL;
		if (strcmp(o, "--api") == 0)
			dst = &a->url;
		else if (strcmp(o, "--token") == 0)
			dst = &a->token;
		else if (strcmp(o, "-p") == 0 || strcmp(o, "--project") == 0)
			dst = &a->project;
		else if (strcmp(o, "-l") == 0 || strcmp(o, "--label") == 0)
			dst = &a->label;
		else if (strcmp(o, "-f") == 0 || strcmp(o, "--filename") == 0)
			dst = &a->file;
		else if (strcmp(o, "--cacert") == 0)
			dst = &a->cacert;
		else if (o[0] == '-' && o[1]) {
			ctl_err("%s: unknown option (try: ternctl %s --help)", o, argv[0]);
			return CTL_USAGE;
		}
		if (!dst) {
			argv[n++] = argv[i];
			continue;
		}
		if (i + 1 >= *argc) {
			ctl_err("%s needs a value", o);
			return CTL_USAGE;
		}
		*dst = argv[++i];
	}
	*argc = n;
	argv[n] = NULL;
	size_t l = strlen(a->url);
	while (l > 1 && a->url[l - 1] == '/')
		l--;
	if (l >= sizeof(a->urlbuf)) {
		ctl_err("--api: URL too long");
		return CTL_USAGE;
	}
	snprintf(a->urlbuf, sizeof(a->urlbuf), "%.*s", (int)l, a->url);
	a->url = a->urlbuf;
	return CTL_OK;
}

static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	return 0;
}

static int cli_open(struct cli *a, struct ctl *c, int *argc, char **argv)
{
	memset(a, 0, sizeof(*a));
	a->ctl = c;
	a->url = env_or("TERN_API", "http://127.0.0.1:8082");
	a->token = env_or("TERN_TOKEN", NULL);
	a->project = env_or("TERN_PROJECT", NULL);
	if (wants_help(*argc, argv)) {
		ctl_api_usage(stdout);
		return -1;
	}
	int rc = parse(a, argc, argv);
	if (rc != CTL_OK)
		return rc;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	a->curl = curl_easy_init();
	if (!a->curl) {
		ctl_err("cannot initialise libcurl");
		return CTL_ERR;
	}
	return CTL_OK;
}

static void cli_close(struct cli *a)
{
	if (a->curl)
		curl_easy_cleanup(a->curl);
	json_decref(a->kinds);
	curl_global_cleanup();
}

/* URL-encode s into out. */
static void enc(struct cli *a, const char *s, char *out, size_t len)
{
	char *e = curl_easy_escape(a->curl, s, 0);
	snprintf(out, len, "%s", e ? e : "");
	curl_free(e);
}

/* Find kind/name: NAME, project:NAME or a UUID. 0 with *obj, or an exit code
 * after a message. */
static int lookup(struct cli *a, const char *kind, bool scoped, const char *name, json_t **obj)
{
	char path[1024], q[512];
	json_t *r;
	*obj = NULL;
	if (strlen(name) == 36 && name[8] == '-' && name[13] == '-') {
		snprintf(path, sizeof(path), "/v1/%s/%s", kind, name);
		long st = request(a, "GET", path, NULL, &r);
		if (st < 0)
			return CTL_ERR;
		if (st != 200) {
			api_error(name, st, r);
			json_decref(r);
			return CTL_ERR;
		}
		*obj = r;
		return CTL_OK;
	}
	if (strchr(name, ':') || !scoped) {
		enc(a, name, q, sizeof(q));
		snprintf(path, sizeof(path), "/v1/%s?fq_name=%s", kind, q);
	} else if (a->project) {
		char fq[300];
		snprintf(fq, sizeof(fq), "%s:%s", a->project, name);
		enc(a, fq, q, sizeof(q));
		snprintf(path, sizeof(path), "/v1/%s?fq_name=%s", kind, q);
	} else {
		enc(a, name, q, sizeof(q));
		snprintf(path, sizeof(path), "/v1/%s?name=%s", kind, q);
	}
	long st = request(a, "GET", path, NULL, &r);
	if (st < 0)
		return CTL_ERR;
	if (st != 200) {
		api_error(name, st, r);
		json_decref(r);
		return CTL_ERR;
	}
	json_t *items = json_object_get(r, "items");
	size_t n = json_array_size(items);
	if (n == 1) {
		*obj = json_incref(json_array_get(items, 0));
		json_decref(r);
		return CTL_OK;
	}
	if (n == 0)
		ctl_err("%s '%s' not found (ternctl get %s lists them%s)", kind, name, kind,
			scoped && !strchr(name, ':') ? "; name the project with -p or project:name" :
			"");
	else
		ctl_err("%s '%s' is in %zu projects: say which with project:%s or -p PROJECT", kind,
			name, n, name);
	json_decref(r);
	return CTL_ERR;
}

/* ---- get / delete ------------------------------------------------------------------ */

int ctl_get_main(struct ctl *c, int argc, char **argv)
{
	struct cli a;
	int rc = cli_open(&a, c, &argc, argv);
	if (rc)
		return rc < 0 ? CTL_OK : rc;
	bool scoped = false;
	const char *kind;
	if (argc < 2 || argc > 3) {
		ctl_err("usage: ternctl get KIND [NAME] [-p PROJECT] [-l key=value] [-o json]");
		rc = CTL_USAGE;
	} else if (!(kind = kind_of(&a, argv[1], &scoped))) {
		rc = CTL_ERR;
	} else if (argc == 3) {
		json_t *o;
		rc = lookup(&a, kind, scoped, argv[2], &o);
		if (rc == CTL_OK) {
			json_t *items = json_pack("[O]", o);
			if (c->out.fmt == OUT_JSON)
				print_json(o);
			else
				print_table(kind, items);
			json_decref(items);
			json_decref(o);
		}
	} else {
		char path[1024], q[300];
		int n = snprintf(path, sizeof(path), "/v1/%s?", kind);
		if (a.project) {
			enc(&a, a.project, q, sizeof(q));
			n += snprintf(path + n, sizeof(path) - (size_t)n, "project=%s&", q);
		}
		if (a.label) {
			enc(&a, a.label, q, sizeof(q));
			snprintf(path + n, sizeof(path) - (size_t)n, "label=%s", q);
		}
		json_t *r;
		long st = request(&a, "GET", path, NULL, &r);
		if (st < 0) {
			rc = CTL_ERR;
		} else if (st != 200) {
			api_error(kind, st, r);
			rc = CTL_ERR;
		} else if (c->out.fmt == OUT_JSON) {
			print_json(r);
		} else {
			print_table(kind, json_object_get(r, "items"));
		}
		json_decref(r);
	}
	cli_close(&a);
	return rc;
}

static int delete_one(struct cli *a, const char *kind, bool scoped, const char *name)
{
	json_t *o, *r;
	int rc = lookup(a, kind, scoped, name, &o);
	if (rc != CTL_OK)
		return rc;
	char path[512], what[300];
	snprintf(path, sizeof(path), "/v1/%s/%s", kind, json_string_value(json_object_get(o,
		 "uuid")));
	snprintf(what, sizeof(what), "%s %s", kind, json_string_value(json_object_get(o,
		 "fq_name")));
	json_decref(o);
	long st = request(a, "DELETE", path, NULL, &r);
	if (st < 0)
		return CTL_ERR;
	if (st != 200) {
		api_error(what, st, r);
		json_decref(r);
		return CTL_ERR;
	}
	json_decref(r);
	printf("%s deleted\n", what);
	return CTL_OK;
}

static int read_items(const char *file, json_t **items);

int ctl_delete_main(struct ctl *c, int argc, char **argv)
{
	struct cli a;
	int rc = cli_open(&a, c, &argc, argv);
	if (rc)
		return rc < 0 ? CTL_OK : rc;
	bool scoped = false;
	const char *kind;
	if (a.file && argc == 1) {
		json_t *items;
		rc = read_items(a.file, &items);
		/* last first: objects usually come after what they refer to */
		for (size_t i = json_array_size(items); rc == CTL_OK && i-- > 0;) {
			json_t *o = json_array_get(items, i);
			const char *k = json_string_value(json_object_get(o, "kind"));
			const char *name = json_string_value(json_object_get(o, "name"));
			const char *proj = json_string_value(json_object_get(o, "project"));
			char fq[300];
			if (!k || !name || !(kind = kind_of(&a, k, &scoped))) {
				ctl_err("%s: item %zu: needs kind and name", a.file, i + 1);
				rc = CTL_ERR;
				break;
			}
			snprintf(fq, sizeof(fq), "%s%s%s", scoped && (proj || a.project) ?
				 (proj ? proj : a.project) : "", scoped && (proj || a.project) ? ":" :
				 "", name);
			rc = delete_one(&a, kind, scoped, fq);
		}
		json_decref(items);
	} else if (argc != 3 || a.file) {
		ctl_err("usage: ternctl delete KIND NAME | ternctl delete -f FILE");
		rc = CTL_USAGE;
	} else if (!(kind = kind_of(&a, argv[1], &scoped))) {
		rc = CTL_ERR;
	} else {
		rc = delete_one(&a, kind, scoped, argv[2]);
	}
	cli_close(&a);
	return rc;
}

/* ---- files: YAML or JSON ------------------------------------------------------------- */

/* A plain YAML scalar as JSON: true/false, null, integers; the rest (and
 * every quoted scalar) a string, so "5000" stays a string as its author
 * meant. */
static json_t *scalar(yaml_node_t *n)
{
	const char *s = (const char *)n->data.scalar.value;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(s, n->data.scalar.length);
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null"))
		return json_null();
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!errno && !*end && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return json_integer(v);
	return json_stringn(s, n->data.scalar.length);
}

static json_t *node_json(yaml_document_t *d, yaml_node_t *n, int depth)
{
	if (!n || depth > 64)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return scalar(n);
	case YAML_SEQUENCE_NODE: {
		json_t *a = json_array();
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++) {
			json_t *x = node_json(d, yaml_document_get_node(d, *i), depth + 1);
			if (!x) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, x);
		}
		return a;
	}
	case YAML_MAPPING_NODE: {
		json_t *o = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(d, p->key);
			json_t *v = node_json(d, yaml_document_get_node(d, p->value), depth + 1);
			if (!k || k->type != YAML_SCALAR_NODE || !v) {
				json_decref(v);
				json_decref(o);
				return NULL;
			}
			json_object_set_new(o, (const char *)k->data.scalar.value, v);
		}
		return o;
	}
	default:
		return NULL;
	}
}

/* Add a document's objects (one, a list, or {"items": [...]}) to items. */
static void add_doc(json_t *items, json_t *doc)
{
	json_t *list = json_is_array(doc) ? doc : json_object_get(doc, "items");
	if (json_is_object(doc) && !json_object_get(doc, "kind") && json_is_array(list))
		json_array_extend(items, list);
	else if (json_is_array(doc))
		json_array_extend(items, doc);
	else
		json_array_append(items, doc);
}

static int read_yaml(const char *file, const char *text, size_t len, json_t *items)
{
	yaml_parser_t p;
	yaml_document_t d;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	int rc = CTL_OK;
	for (;;) {
		if (!yaml_parser_load(&p, &d)) {
			ctl_err("%s: line %zu column %zu: %s", file, p.problem_mark.line + 1,
				p.problem_mark.column + 1, p.problem ? p.problem : "bad YAML");
			rc = CTL_ERR;
			break;
		}
		yaml_node_t *root = yaml_document_get_root_node(&d);
		if (!root) {
			yaml_document_delete(&d);
			break;
		}
		json_t *j = node_json(&d, root, 0);
		yaml_document_delete(&d);
		if (!j) {
			ctl_err("%s: a document has a shape JSON cannot hold (non-string keys, "
				"anchors nested too deep)", file);
			rc = CTL_ERR;
			break;
		}
		add_doc(items, j);
		json_decref(j);
	}
	yaml_parser_delete(&p);
	return rc;
}

static int read_items(const char *file, json_t **items)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	*items = json_array();
	if (!f) {
		ctl_err("-f %s: %s", file, strerror(errno));
		return CTL_ERR;
	}
	char *text = NULL;
	size_t cap = 0;
	ssize_t len = getdelim(&text, &cap, 0, f);
	if (f != stdin)
		fclose(f);
	if (len <= 0) {
		free(text);
		ctl_err("-f %s: empty file", file);
		return CTL_ERR;
	}
	const char *p = text;
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	int rc = CTL_OK;
	if (*p == '{' || *p == '[') {
		json_error_t je;
		json_t *j = json_loadb(text, (size_t)len, 0, &je);
		if (!j) {
			ctl_err("%s: line %d column %d: %s", file, je.line, je.column, je.text);
			rc = CTL_ERR;
		} else {
			add_doc(*items, j);
			json_decref(j);
		}
	} else {
		rc = read_yaml(file, text, (size_t)len, *items);
	}
	free(text);
	return rc;
}

/* ---- apply ------------------------------------------------------------------------- */

static int apply_one(struct cli *a, json_t *o, size_t idx, json_t *done)
{
	char what[400], path[512];
	const char *k = json_string_value(json_object_get(o, "kind"));
	const char *name = json_string_value(json_object_get(o, "name"));
	bool scoped = false;
	const char *kind;
	if (!json_is_object(o) || !k || !name) {
		ctl_err("%s: item %zu: every object needs kind and name", a->file, idx);
		return CTL_ERR;
	}
	if (!(kind = kind_of(a, k, &scoped)))
		return CTL_ERR;
	json_t *body = json_deep_copy(o);
	json_object_set_new(body, "kind", json_string(kind));
	if (scoped && !json_object_get(body, "project") && a->project)
		json_object_set_new(body, "project", json_string(a->project));
	const char *proj = json_string_value(json_object_get(body, "project"));
	snprintf(what, sizeof(what), "%s %s%s%s", kind, scoped && proj ? proj : "",
		 scoped && proj ? ":" : "", name);
	json_t *r, *cur = NULL;
	long st;
	const char *verb;
	if (scoped && !proj) {
		ctl_err("%s: item %zu (%s): project: is required (in the file or -p PROJECT)",
			a->file, idx, what);
		json_decref(body);
		return CTL_ERR;
	}
	char q[400];
	enc(a, what + strlen(kind) + 1, q, sizeof(q));
	snprintf(path, sizeof(path), "/v1/%s?fq_name=%s", kind, q);
	st = request(a, "GET", path, NULL, &r);
	if (st == 200)
		cur = json_incref(json_array_get(json_object_get(r, "items"), 0));
	else if (st > 0)
		api_error(what, st, r);
	json_decref(r);
	if (st != 200) {
		json_decref(body);
		return CTL_ERR;
	}
	json_int_t was = -1;
	if (cur) {
		was = json_integer_value(json_object_get(cur, "version"));
		/* replace what we just read, and only that */
		if (!json_object_get(body, "version"))
			json_object_set(body, "version", json_object_get(cur, "version"));
		snprintf(path, sizeof(path), "/v1/%s/%s", kind,
			 json_string_value(json_object_get(cur, "uuid")));
		st = request(a, "PUT", path, body, &r);
		verb = "configured";
	} else {
		snprintf(path, sizeof(path), "/v1/%s", kind);
		st = request(a, "POST", path, body, &r);
		verb = "created";
	}
	json_decref(cur);
	json_decref(body);
	if (st < 0)
		return CTL_ERR;
	if (st != 200 && st != 201) {
		char full[450];
		snprintf(full, sizeof(full), "%s: item %zu (%s)", a->file, idx, what);
		api_error(full, st, r);
		json_decref(r);
		return CTL_ERR;
	}
	if (a->ctl->out.fmt == OUT_JSON)
		json_array_append(done, r);
	else
		printf("%s %s\n", what, json_integer_value(json_object_get(r, "version")) == was ?
		       "unchanged" : verb);
	json_decref(r);
	return CTL_OK;
}

int ctl_apply_main(struct ctl *c, int argc, char **argv)
{
	struct cli a;
	int rc = cli_open(&a, c, &argc, argv);
	if (rc)
		return rc < 0 ? CTL_OK : rc;
	if (!a.file || argc != 1) {
		ctl_err("usage: ternctl apply -f FILE (YAML or JSON; - for stdin)");
		cli_close(&a);
		return CTL_USAGE;
	}
	json_t *items, *done = json_array();
	rc = read_items(a.file, &items);
	/* every item is tried, kubectl-style; the exit code says if any failed */
	size_t i;
	json_t *o;
	int failed = 0;
	json_array_foreach(items, i, o)
		if (rc == CTL_OK && apply_one(&a, o, i + 1, done) != CTL_OK)
			failed++;
	if (rc == CTL_OK && c->out.fmt == OUT_JSON)
		print_json(done);
	if (rc == CTL_OK && failed) {
		ctl_err("%d of %zu objects failed", failed, json_array_size(items));
		rc = CTL_ERR;
	}
	json_decref(items);
	json_decref(done);
	cli_close(&a);
	return rc;
}

void ctl_api_usage(FILE *f)
{
	fprintf(f,
		"usage: ternctl apply -f FILE|-          create or update the objects in a YAML or\n"
		"                                        JSON file (several YAML documents, a list,\n"
		"                                        or {\"items\": [...]})\n"
		"       ternctl get KIND [NAME] [-l key=value] [-o json]\n"
		"       ternctl delete KIND NAME | -f FILE\n"
		"NAME is name, project:name or a UUID. KIND is a full kind or its short name\n"
		"(vn, vmi, iip, ipam, vr, bgp, ...; the server lists them).\n"
		"Options:\n"
		"  --api URL        tern-api (TERN_API; default http://127.0.0.1:8082)\n"
		"  --token TOKEN    bearer token (TERN_TOKEN)\n"
		"  -p, --project P  project of names without one (TERN_PROJECT)\n"
		"  --cacert FILE    CA certificate for an https URL\n");
}
