/*
 * DOC: bgp_conf.h — the tern-control configuration file: "key value" lines,
 * then one [neighbor ADDRESS] section per peer and one [instance NAME]
 * section per routing instance. Small and strict: every error
 * names file:line and what was expected. Format: docs/ARCHITECTURE.md
 * (tern-control).
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
	char name[64];                  /* the address as written */
	int line;
};

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
	struct bgp_conf_neighbor nb[BGP_MAX_PEERS];
	int n_nb;                       /* configured, then dynamic ones appended */
	struct bgp_conf_range range[BGP_CONF_MAX_RANGES];
	int n_range;
	struct bgp_vrf_conf vrf[BGP_VRF_MAX];   /* [instance NAME] sections */
	int n_vrf;
};

/*
 * Parse the text of a configuration (name is for messages). Returns 0, or
 * -EINVAL with "file:line: what is wrong" in err.
 */
int bgp_conf_parse(struct bgp_conf *c, const char *name, const char *text, char *err,
		   size_t errlen);
/* The range whose prefix holds addr (any port), or NULL. */
const struct bgp_conf_range *bgp_conf_range_of(const struct bgp_conf *c,
					       const struct sockaddr_storage *addr);

/* Read and parse a file. Returns 0, -errno when it cannot be read, -EINVAL. */
int bgp_conf_load(struct bgp_conf *c, const char *path, char *err, size_t errlen);

#endif /* TERN_BGP_CONF_H */
