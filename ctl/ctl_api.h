/*
 * DOC: ctl_api.h — ternctl's tern-api commands, in the manner of kubectl:
 *
 *   ternctl apply -f FILE|-        create or update the objects of a YAML or JSON file
 *   ternctl get KIND [NAME]        columns, or -o json
 *   ternctl delete KIND NAME       (or -f FILE: its objects, last first)
 *
 * Options after the command: --api URL (TERN_API, default
 * http://127.0.0.1:8082), --token T (TERN_TOKEN), -p/--project P
 * (TERN_PROJECT) for names without a project, -l/--label k=v (get),
 * --cacert FILE for https. The kinds and their short names come from the
 * server (GET /v1/kinds), so the client never lags the schema.
 */
#ifndef TERN_CTL_API_H
#define TERN_CTL_API_H

#include <stdio.h>

#include "ctl.h"

int ctl_apply_main(struct ctl *c, int argc, char **argv);
int ctl_get_main(struct ctl *c, int argc, char **argv);
int ctl_delete_main(struct ctl *c, int argc, char **argv);
void ctl_api_usage(FILE *f);

#endif /* TERN_CTL_API_H */
