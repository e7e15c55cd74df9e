/*
 * DOC: bgp_conf.h — the tern-control configuration file: "key value" lines,
 * then one [neighbor ADDRESS] section per peer and one [instance NAME]
 * section per routing instance. Small and strict: every error
 * names file:line and what was expected. Format: docs/ARCHITECTURE.md
 * (tern-control).
 *
 * Also the comparison of two configurations (bgp_conf_diff): which
 * neighbours start, stop or are reset and which instances come, go or
 * change, so that a new configuration (from tern-api's watch) is applied
 * without touching what did not change.
 */
#ifndef TERN_BGP_CONF_H
#define TERN_BGP_CONF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bgp_rib.h"
#include "bgp_sock.h"
#include "bgp_vrf.h"

#define BGP_CONF_MAX_LISTEN 4
#define BGP_DEFAULT_PORT 179
#define BGP_DEFAULT_HOLD 90
#define BGP_DEFAULT_CONNRETRY 5
#define BGP_DEFAULT_STARTUP_DEFER 15
#define BGP_DEFAULT_CTL_SOCK "/run/tern/control/ctl.sock"

/* Where a neighbour comes from. */
enum bgp_nb_origin {
	BGP_NB_FILE,                    /* a [neighbor] section */
	BGP_NB_API,                     /* a bgp-router object of tern-api */
	BGP_NB_RANGE,                   /* a speaker that called from a [neighbors] prefix */
};

struct bgp_conf_neighbor {
	struct sockaddr_storage addr;   /* with the port */
	socklen_t addr_len;
	struct sockaddr_storage local;  /* local-address (port 0); family 0 when unset */
	socklen_t local_len;
	uint32_t as;
	uint32_t afs;                   /* BGP_AF_BIT of each family; default ipv4 */
	uint16_t hold;
	bool passive;
	bool rr_client;
	char password[81];              /* TCP MD5 (RFC 2385) key; "" when none */
	uint8_t addpath_off;            /* ADD-PATH directions not offered (BGP_CONF_AP_*);
					 * 0: both, the default */
	char name[64];                  /* the address as written */
	char router[64];                /* BGP_NB_API: the bgp-router object's name */
	uint8_t origin;                 /* enum bgp_nb_origin */
	bool off;                       /* removed: a free slot (the daemon's, see bgp_daemon.h) */
	int line;
};

#define BGP_CONF_AP_NO_RX 0x1         /* add-path send|off: do not offer to receive */
#define BGP_CONF_AP_NO_TX 0x2         /* add-path receive|off: do not offer to send */

/* [neighbors PREFIX]: any speaker connecting from PREFIX becomes a passive
 * neighbor with tmpl's settings (agents of a whole fabric in one section). */
#define BGP_CONF_MAX_RANGES 8
struct bgp_conf_range {
	struct bgp_conf_neighbor tmpl;
	struct sockaddr_storage net;    /* port 0 */
	uint8_t plen;
};

struct bgp_conf {
	uint32_t router_id;             /* host order */
	uint32_t as;
	uint32_t cluster_id;            /* default: router-id */
	uint16_t hold, connretry;
	uint16_t startup_defer;         /* s: End-of-RIB waits for every peer's (RFC 4724 §4.1) */
	struct sockaddr_storage listen[BGP_CONF_MAX_LISTEN];
	socklen_t listen_len[BGP_CONF_MAX_LISTEN];
	int n_listen;                   /* 0: 0.0.0.0 and :: port 179 */
	char ctl_sock[108];
	char log_level[16];
	/* graceful-restart restart-time N (RFC 4724 §4.1): SIGTERM closes the
	 * sessions without NOTIFICATION and leaves a marker in state_dir; a start
	 * within N seconds is a graceful restart. 0: off. */
	uint16_t gr_restart_time;
	char state_dir[108];            /* "": the control socket's directory */
	/* Arrays sized as configured (bgp_conf_nb_new, bgp_conf_vrf_new), freed
	 * by bgp_conf_free; a struct copy shares them, bgp_conf_copy does not. */
	struct bgp_conf_neighbor *nb;
	int n_nb, cap_nb;               /* configured, then dynamic ones appended */
	struct bgp_conf_range range[BGP_CONF_MAX_RANGES];
	int n_range;
	struct bgp_vrf_conf *vrf;       /* [instance NAME] sections */
	int n_vrf, cap_vrf;
};

/* Neighbours: at most BGP_CONF_MAX_NB (the last RIB peer is BGP_RIB_LOCAL);
 * instances: at most BGP_VRF_MAX. */
#define BGP_CONF_MAX_NB (BGP_MAX_PEERS - 1)

/* A zeroed neighbour (instance) appended to c, the array grown as needed
 * (pointers into it may move). NULL when the limit is reached or out of
 * memory: *full tells which (may be NULL). */
struct bgp_conf_neighbor *bgp_conf_nb_new(struct bgp_conf *c, bool *full);
struct bgp_vrf_conf *bgp_conf_vrf_new(struct bgp_conf *c, bool *full);
/* Room for n_nb neighbours and n_vrf instances, so that appending up to
 * there moves nothing. Returns 0 or -ENOMEM. */
int bgp_conf_reserve(struct bgp_conf *c, int n_nb, int n_vrf);
/* dst (holding nothing, or freed) becomes a deep copy of src. Returns 0 or
 * -ENOMEM (dst then holds nothing). */
int bgp_conf_copy(struct bgp_conf *dst, const struct bgp_conf *src);
/* Free the arrays; c is then an empty configuration. */
void bgp_conf_free(struct bgp_conf *c);

/* bgp_conf_parse flags. BGP_CONF_API: the identity comes from tern-api (the
 * own bgp-router object), so router-id and as may be left out, and
 * cluster-id is not defaulted (0: the router id, once known). */
#define BGP_CONF_API 0x1u

/*
 * Parse the text of a configuration (name is for messages) into c, which
 * holds nothing (zeroed or freed): the caller frees it (bgp_conf_free).
 * Returns 0, or -EINVAL (or -ENOMEM) with "file:line: what is wrong" in err;
 * c then holds nothing.
 */
int bgp_conf_parse(struct bgp_conf *c, const char *name, const char *text, char *err,
		   size_t errlen);
int bgp_conf_parse_flags(struct bgp_conf *c, const char *name, const char *text,
			 unsigned flags, char *err, size_t errlen);
/* The range whose prefix holds addr (any port), or NULL. */
const struct bgp_conf_range *bgp_conf_range_of(const struct bgp_conf *c,
					       const struct sockaddr_storage *addr);

/* Read and parse a file (flags as bgp_conf_parse_flags). Returns 0, -errno
 * when it cannot be read, -EINVAL. */
int bgp_conf_load(struct bgp_conf *c, const char *path, unsigned flags, char *err,
		  size_t errlen);

/* True when a and b would run the same session: address and port, local
 * address, AS, families, hold time, passive, rr-client, MD5 key. */
bool bgp_conf_nb_same(const struct bgp_conf_neighbor *a, const struct bgp_conf_neighbor *b);
/* True when two instances import, export and originate the same (and have
 * the same VNI); the names are not compared. */
bool bgp_conf_vrf_same(const struct bgp_vrf_conf *a, const struct bgp_vrf_conf *b);

enum bgp_change {
	BGP_CH_KEEP,                    /* not touched */
	BGP_CH_ADD,                     /* neighbour: start a session; instance: create, import */
	BGP_CH_REMOVE,                  /* neighbour: Cease, slot freed; instance: dropped */
	BGP_CH_RESET,                   /* neighbour: Cease and start again with the new
					 * settings; instance: import and export again */
};

/* What applying configuration `to` over `from` means. Neighbours are
 * matched by address and port, instances by name (hash tables: linear in
 * the sizes of both). Slots of `from` that are off or came from a
 * [neighbors] range (BGP_NB_RANGE) are KEEP: the new configuration does not
 * speak of them. The arrays are sized for the two configurations (one
 * allocation, freed by bgp_conf_diff_free). */
struct bgp_conf_diff {
	uint8_t *nb;                    /* per neighbour of from: KEEP, REMOVE or RESET */
	int *nb_to;                     /* per neighbour of from: its index in to, -1 */
	bool *nb_add;                   /* per neighbour of to: ADD (nothing in from) */
	uint8_t *vrf;                   /* per instance of from: KEEP, REMOVE or RESET */
	int *vrf_to;                    /* per instance of from: its index in to, -1 */
	bool *vrf_add;                  /* per instance of to: ADD */
	int n_start, n_stop, n_reset, n_vrf_add, n_vrf_remove, n_vrf_change;
	void *mem;
};
/* Returns 0 or -ENOMEM (df then holds nothing; bgp_conf_diff_free is still
 * safe). */
int bgp_conf_diff(const struct bgp_conf *from, const struct bgp_conf *to,
		  struct bgp_conf_diff *df);
void bgp_conf_diff_free(struct bgp_conf_diff *df);

#endif /* TERN_BGP_CONF_H */
