/*
 * DOC: api_b64.h — base64 (RFC 4648, standard alphabet): the v3 JSON
 * gateway's form of etcd's bytes fields, and the text form of the event
 * log's compressed values (api_etcd_evlog.h), which must stay text because
 * the etcd store hands values on as C strings.
 */
#ifndef TERN_API_B64_H
#define TERN_API_B64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The length of n bytes in base64, padding included. */
#define API_B64_LEN(n) (((n) + 2) / 3 * 4)

/* n bytes of in as base64 at out (API_B64_LEN(n) characters, no NUL);
 * returns the end. */
char *api_b64_encode(const void *in, size_t n, char *out);

/* The base64 text in (n characters; '=' padding at the end optional)
 * decoded at out, which has room for n * 3 / 4 bytes: their number, or -1
 * when a character is not base64 (nothing but padding may follow a '='). */
ssize_t api_b64_decode(const char *in, size_t n, uint8_t *out);

#endif
