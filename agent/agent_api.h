/*
 * DOC: agent_api.h — tern-agent's client of tern-api is the one tern-control
 * uses too: lib/tern_watch.h (list + watch in a thread, events through an
 * eventfd, a few synchronous writes). These are the agent's names for it, so
 * that the agent's modules read as before; every type and function is the
 * tern_watch one, documented there.
 */
#ifndef TERN_AGENT_API_H
#define TERN_AGENT_API_H

#include "tern_watch.h"

#define AGENT_API_MAX_KINDS TERN_WATCH_MAX_KINDS
#define AGENT_API_UPSERT    TERN_WATCH_UPSERT
#define AGENT_API_DELETE    TERN_WATCH_DELETE
#define AGENT_API_SYNCED    TERN_WATCH_SYNCED
#define AGENT_API_DOWN      TERN_WATCH_DOWN

#define agent_api           tern_watch          /* struct agent_api */
#define agent_api_ev        tern_watch_ev       /* enum agent_api_ev */
#define agent_api_event     tern_watch_event    /* struct agent_api_event */
#define agent_api_conf      tern_watch_conf     /* struct agent_api_conf */
#define agent_api_cb        tern_watch_cb

#define agent_api_new       tern_watch_new
#define agent_api_free      tern_watch_free
#define agent_api_fd        tern_watch_fd
#define agent_api_drain     tern_watch_drain
#define agent_api_create    tern_watch_create
#define agent_api_create_batch tern_watch_create_batch
#define agent_api_update    tern_watch_update
#define agent_api_delete    tern_watch_delete
#define agent_api_list      tern_watch_list

#endif /* TERN_AGENT_API_H */
