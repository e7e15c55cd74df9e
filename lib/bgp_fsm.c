/*
 * DOC: bgp_fsm.c — RFC 4271 §8.2.2 as one switch per state. Simplifications,
 * all optional in the RFC: no DelayOpen, no peer oscillation damping, no
 * IdleHoldTimer inside the FSM (the session restarts an Idle peer after the
 * connect-retry time, which is AutomaticStart).
 */
#include "bgp_fsm.h"

#include "bgp_msg.h"

void bgp_fsm_init(struct bgp_fsm *f, uint16_t hold, uint16_t connretry, bool passive)
{
	f->state = BGP_IDLE;
	f->passive = passive;
	f->hold_cfg = hold;
	f->connretry_s = connretry ? connretry : 1;
	f->hold_s = 0;
	f->keepalive_s = 0;
	f->connretry_count = 0;
}

bool bgp_fsm_collision_close_ours(uint32_t local_id, uint32_t remote_id)
{
	/* §6.8: the connection initiated by the speaker with the higher
	 * identifier survives. */
	return local_id < remote_id;
}

static const char *const state_names[] = { "Idle", "Connect", "Active", "OpenSent",
					   "OpenConfirm", "Established" };

const char *bgp_state_name(enum bgp_state s)
{
	return (unsigned)s < 6 ? state_names[s] : "?";
}

const char *bgp_event_name(enum bgp_event ev)
{
	static const char *const names[BGP_EV_COUNT] = {
		"Start", "StartPassive", "Stop", "ConnectRetryTimerExpires", "HoldTimerExpires",
		"KeepaliveTimerExpires", "TcpConnected", "TcpFailed", "OpenReceived",
		"MessageError", "OpenCollisionDump", "NotificationReceived", "KeepaliveReceived",
		"UpdateReceived", "UpdateError",
	};
	return (unsigned)ev < BGP_EV_COUNT ? names[ev] : "?";
}

/* Leave for Idle: every timer stops, the connection closes. */
static void to_idle(struct bgp_fsm *f, struct bgp_fsm_out *o)
{
	o->actions |= BGP_ACT_CLOSE | BGP_ACT_CONNRETRY_STOP | BGP_ACT_HOLD_STOP |
		      BGP_ACT_KEEPALIVE_STOP;
	if (f->state == BGP_ESTABLISHED)
		o->actions |= BGP_ACT_DOWN;
	f->connretry_count++;
	f->state = BGP_IDLE;
}

static void notify(struct bgp_fsm_out *o, uint8_t code, uint8_t subcode)
{
	o->actions |= BGP_ACT_SEND_NOTIF;
	o->code = code;
	o->subcode = subcode;
}

/* RFC 6608 subcodes of FSM Error: unexpected message in OpenSent (1),
 * OpenConfirm (2), Established (3). */
static void fsm_error(struct bgp_fsm *f, struct bgp_fsm_out *o)
{
	uint8_t sub = f->state == BGP_OPENSENT ? 1 : f->state == BGP_OPENCONFIRM ? 2 : 3;
	notify(o, BGP_NOTIF_FSM, sub);
	to_idle(f, o);
}

/* The events every state after Connect/Active treats alike. */
static bool common_teardown(struct bgp_fsm *f, const struct bgp_fsm_in *in, struct bgp_fsm_out *o)
{
	switch (in->ev) {
	case BGP_EV_STOP:
		notify(o, BGP_NOTIF_CEASE, BGP_CEASE_ADMIN_DOWN);
		to_idle(f, o);
		f->connretry_count = 0;
		return true;
	case BGP_EV_HOLD_TIMER:
		notify(o, BGP_NOTIF_HOLD, 0);
		to_idle(f, o);
		return true;
	case BGP_EV_MSG_ERROR:
	case BGP_EV_UPDATE_ERROR:
		notify(o, in->code, in->subcode);
		to_idle(f, o);
		return true;
	case BGP_EV_COLLISION:
		notify(o, BGP_NOTIF_CEASE, BGP_CEASE_COLLISION);
		to_idle(f, o);
		return true;
	case BGP_EV_NOTIFICATION:
	case BGP_EV_TCP_FAILED:
		to_idle(f, o);
		return true;
	default:
		return false;
	}
}

static void open_sent(struct bgp_fsm *f, struct bgp_fsm_out *o)
{
	o->actions |= BGP_ACT_CONNRETRY_STOP | BGP_ACT_SEND_OPEN | BGP_ACT_HOLD_START;
	f->hold_s = BGP_LARGE_HOLD;
	f->state = BGP_OPENSENT;
}

static void st_idle(struct bgp_fsm *f, const struct bgp_fsm_in *in, struct bgp_fsm_out *o)
{
	if (in->ev == BGP_EV_START && !f->passive) {
		o->actions |= BGP_ACT_CONNRETRY_START | BGP_ACT_CONNECT;
		f->state = BGP_CONNECT;
	} else if (in->ev == BGP_EV_START || in->ev == BGP_EV_START_PASSIVE) {
		o->actions |= BGP_ACT_CONNRETRY_START;
		f->state = BGP_ACTIVE;
	}
	/* Everything else is ignored in Idle (§8.2.2). */
}

static void st_connect_active(struct bgp_fsm *f, const struct bgp_fsm_in *in,
			      struct bgp_fsm_out *o)
{
	switch (in->ev) {
	case BGP_EV_START:
	case BGP_EV_START_PASSIVE:
		return;
	case BGP_EV_STOP:
		to_idle(f, o);
		f->connretry_count = 0;
		return;
	case BGP_EV_CONNRETRY_TIMER:
		o->actions |= BGP_ACT_CONNRETRY_START;
		if (f->passive) {
			f->state = BGP_ACTIVE; /* keep waiting for the peer */
			return;
		}
		/* Connect: abandon the attempt in progress, start another. */
		o->actions |= (f->state == BGP_CONNECT ? BGP_ACT_CLOSE : 0) | BGP_ACT_CONNECT;
		f->state = BGP_CONNECT;
		return;
	case BGP_EV_TCP_CONNECTED:
		open_sent(f, o);
		return;
	case BGP_EV_TCP_FAILED:
		if (f->state == BGP_CONNECT) {
			o->actions |= BGP_ACT_CLOSE | BGP_ACT_CONNRETRY_START;
			f->state = BGP_ACTIVE;
		} else {
			to_idle(f, o);
		}
		return;
	default:
		/* A message or timer that cannot happen without a connection. */
		to_idle(f, o);
		return;
	}
}

static void st_opensent(struct bgp_fsm *f, const struct bgp_fsm_in *in, struct bgp_fsm_out *o)
{
	if (in->ev == BGP_EV_START || in->ev == BGP_EV_START_PASSIVE ||
	    in->ev == BGP_EV_TCP_CONNECTED)
		return;
	if (in->ev == BGP_EV_TCP_FAILED) {
		/* §8.2.2: back to Active, waiting for the peer or the timer. */
		o->actions |= BGP_ACT_CLOSE | BGP_ACT_HOLD_STOP | BGP_ACT_CONNRETRY_START;
		f->state = BGP_ACTIVE;
		return;
	}
	if (common_teardown(f, in, o))
		return;
	if (in->ev != BGP_EV_OPEN) {
		fsm_error(f, o);
		return;
	}
	/* Hold time: the smaller of ours and theirs (§4.2); 0 means none. */
	uint16_t h = in->peer_hold < f->hold_cfg ? in->peer_hold : f->hold_cfg;
	f->hold_s = h;
	f->keepalive_s = h / 3;
	o->actions |= BGP_ACT_CONNRETRY_STOP | BGP_ACT_SEND_KEEPALIVE;
	if (h)
		o->actions |= BGP_ACT_HOLD_START | BGP_ACT_KEEPALIVE_START;
	else
		o->actions |= BGP_ACT_HOLD_STOP | BGP_ACT_KEEPALIVE_STOP;
	f->state = BGP_OPENCONFIRM;
}

static void st_openconfirm(struct bgp_fsm *f, const struct bgp_fsm_in *in, struct bgp_fsm_out *o)
{
	if (in->ev == BGP_EV_START || in->ev == BGP_EV_START_PASSIVE ||
	    in->ev == BGP_EV_TCP_CONNECTED)
		return;
	if (common_teardown(f, in, o))
		return;
	switch (in->ev) {
	case BGP_EV_KEEPALIVE_TIMER:
		o->actions |= BGP_ACT_SEND_KEEPALIVE | BGP_ACT_KEEPALIVE_START;
		return;
	case BGP_EV_KEEPALIVE:
		if (f->hold_s)
			o->actions |= BGP_ACT_HOLD_START;
		o->actions |= BGP_ACT_ESTABLISHED;
		f->connretry_count = 0;
		f->state = BGP_ESTABLISHED;
		return;
	default:
		fsm_error(f, o);
		return;
	}
}

static void st_established(struct bgp_fsm *f, const struct bgp_fsm_in *in, struct bgp_fsm_out *o)
{
	if (in->ev == BGP_EV_START || in->ev == BGP_EV_START_PASSIVE ||
	    in->ev == BGP_EV_TCP_CONNECTED)
		return;
	if (common_teardown(f, in, o))
		return;
	switch (in->ev) {
	case BGP_EV_KEEPALIVE_TIMER:
		o->actions |= BGP_ACT_SEND_KEEPALIVE | BGP_ACT_KEEPALIVE_START;
		return;
	case BGP_EV_KEEPALIVE:
		if (f->hold_s)
			o->actions |= BGP_ACT_HOLD_START;
		return;
	case BGP_EV_UPDATE:
		o->actions |= BGP_ACT_PROCESS_UPDATE | (f->hold_s ? BGP_ACT_HOLD_START : 0);
		return;
	default:
		fsm_error(f, o);
		return;
	}
}

struct bgp_fsm_out bgp_fsm_step(struct bgp_fsm *f, const struct bgp_fsm_in *in)
{
	struct bgp_fsm_out o = { .actions = 0, .from = f->state };
	switch (f->state) {
	case BGP_IDLE:
		st_idle(f, in, &o);
		break;
	case BGP_CONNECT:
	case BGP_ACTIVE:
		st_connect_active(f, in, &o);
		break;
	case BGP_OPENSENT:
		st_opensent(f, in, &o);
		break;
	case BGP_OPENCONFIRM:
		st_openconfirm(f, in, &o);
		break;
	case BGP_ESTABLISHED:
		st_established(f, in, &o);
		break;
	}
	return o;
}

struct bgp_fsm_out bgp_fsm_event(struct bgp_fsm *f, enum bgp_event ev)
{
	struct bgp_fsm_in in = { .ev = ev };
	return bgp_fsm_step(f, &in);
}
