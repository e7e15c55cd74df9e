/*
 * DOC: agent_parse_fuzz.c — libFuzzer target for the agent's parsers of text
 * handed to it by CNI calls: the NPWG network annotation (as a string, and
 * as JSON), addresses, route targets, MACs.
 *
 * Whatever the input: no crash; an accepted annotation gives at most
 * AGENT_MAX_IFS selections with NUL-terminated references and interface
 * names of at most 15 characters; a refused one carries a message; an
 * address that parses prints back to something that parses to the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_parse.h"

static void check_networks(json_t *j)
{
	struct agent_want w[AGENT_MAX_IFS];
	char err[256] = "";
	int n = 0;
	int rc = agent_parse_networks(j, w, &n, err, sizeof(err));
	if (rc == 0) {
		if (n < 0 || n > AGENT_MAX_IFS)
			abort();
		for (int i = 0; i < n; i++)
			if (!memchr(w[i].ref, 0, sizeof(w[i].ref)) || strlen(w[i].ifname) > 15 ||
			    !w[i].ref[0])
				abort();
	} else if (rc != -7 || !err[0]) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	json_t *str = json_string(s);  /* NULL when not UTF-8: the parser takes NULL too */
	check_networks(str);
	json_decref(str);
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	if (j)
		check_networks(j);
	json_decref(j);

	struct agent_ip ip, back;
	char buf[64];
	if (agent_ip_parse(s, &ip) == 0) {
		if (agent_ip_parse(agent_ip_str(&ip, buf, sizeof(buf), true), &back) != 0 ||
		    memcmp(&ip, &back, sizeof(ip)))
			abort();
	}
	uint8_t rt[8], mac[6];
	(void)agent_rt_parse(s, rt);
	(void)tern_mac_parse(s, mac);
	free(s);
	return 0;
}
