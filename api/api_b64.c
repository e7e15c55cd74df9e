/*
 * DOC: api_b64.c — base64 both ways (see api_b64.h).
 */
#include "api_b64.h"

static const char b64c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *api_b64_encode(const void *in, size_t n, char *out)
{
	const uint8_t *s = in;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);
		*out++ = b64c[v >> 18 & 63];
		*out++ = b64c[v >> 12 & 63];
		*out++ = i + 1 < n ? b64c[v >> 6 & 63] : '=';
		*out++ = i + 2 < n ? b64c[v & 63] : '=';
	}
	return out;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

ssize_t api_b64_decode(const char *in, size_t n, uint8_t *out)
{
	while (n && in[n - 1] == '=')
		n--;
	uint32_t acc = 0;
	int bits = 0;
	uint8_t *o = out;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (uint8_t)(acc >> bits);
		}
	}
	return o - out;
}
