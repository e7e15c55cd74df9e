/*
 * DOC: bgp_fsm.h — the BGP-4 finite state machine (RFC 4271 §8) of one
 * connection, as a pure function: an event goes in, the new state and a set
 * of actions come out (send OPEN, start the hold timer, close, ...). No
 * sockets, no bytes, no clock: bgp_session.c performs the actions, and the
 * unit tests drive it step by step.
 *
 * One struct bgp_fsm per TCP connection, as RFC 4271 §6.8 describes: while
 * two connections to one peer race (collision), each has its own FSM and
 * bgp_fsm_collision() says which one to close.
 */
#ifndef TERN_BGP_FSM_H
#define TERN_BGP_FSM_H

#include <stdbool.h>
#include <stdint.h>

enum bgp_state {
	BGP_IDLE, BGP_CONNECT, BGP_ACTIVE, BGP_OPENSENT, BGP_OPENCONFIRM, BGP_ESTABLISHED,
};

/* Events (RFC 4271 §8.1, the numbers in comments). */
enum bgp_event {
	BGP_EV_START,           /* 1/4: ManualStart / AutomaticStart */
	BGP_EV_START_PASSIVE,   /* 4/5: ..._with_PassiveTcpEstablishment */
	BGP_EV_STOP,            /* 2: ManualStop (Cease / Administrative Shutdown) */
	BGP_EV_CONNRETRY_TIMER, /* 9 */
	BGP_EV_HOLD_TIMER,      /* 10 */
	BGP_EV_KEEPALIVE_TIMER, /* 11 */
	BGP_EV_TCP_CONNECTED,   /* 16/17: our connect() completed, or we accepted one */
	BGP_EV_TCP_FAILED,      /* 18: refused, reset, closed by the peer */
	BGP_EV_OPEN,            /* 19: a valid OPEN (its hold time in peer_hold) */
	BGP_EV_MSG_ERROR,       /* 21/22: bad header or OPEN (NOTIFICATION in the input) */
	BGP_EV_COLLISION,       /* 23: OpenCollisionDump (Cease / Collision) */
	BGP_EV_NOTIFICATION,    /* 24/25 */
	BGP_EV_KEEPALIVE,       /* 26 */
	BGP_EV_UPDATE,          /* 27 */
	BGP_EV_UPDATE_ERROR,    /* 28: NOTIFICATION in the input */
	BGP_EV_COUNT,
};

/* Actions, several per step; the session performs them in this order:
 * stop/start timers, send, then connect or close. */
#define BGP_ACT_CONNECT          (1u << 0)  /* start a TCP connection */
#define BGP_ACT_CLOSE            (1u << 1)  /* drop the TCP connection */
#define BGP_ACT_SEND_OPEN        (1u << 2)
#define BGP_ACT_SEND_KEEPALIVE   (1u << 3)
#define BGP_ACT_SEND_NOTIF       (1u << 4)  /* out.code / out.subcode (+ the input's data) */
#define BGP_ACT_CONNRETRY_START  (1u << 5)  /* (re)arm, connretry_s seconds */
#define BGP_ACT_CONNRETRY_STOP   (1u << 6)
#define BGP_ACT_HOLD_START       (1u << 7)  /* (re)arm, hold_s seconds */
#define BGP_ACT_HOLD_STOP        (1u << 8)
#define BGP_ACT_KEEPALIVE_START  (1u << 9)  /* (re)arm, keepalive_s seconds */
#define BGP_ACT_KEEPALIVE_STOP   (1u << 10)
#define BGP_ACT_ESTABLISHED      (1u << 11) /* the session is up: send the table */
#define BGP_ACT_DOWN             (1u << 12) /* left Established: drop the peer's routes */
#define BGP_ACT_PROCESS_UPDATE   (1u << 13) /* apply the UPDATE */

/* Hold time while waiting for the OPEN (RFC 4271 §8.2.2 suggests 4 minutes). */
#define BGP_LARGE_HOLD 240

struct bgp_fsm {
	enum bgp_state state;
	bool passive;            /* do not connect; wait for the peer */
	uint16_t hold_cfg;       /* our hold time (OPEN), seconds; 0 = none */
	uint16_t connretry_s;
	/* Set by the FSM for the timers it starts: */
	uint16_t hold_s;         /* negotiated (or BGP_LARGE_HOLD in OpenSent) */
	uint16_t keepalive_s;    /* hold_s / 3; 0: no keepalives */
	uint32_t connretry_count;
};

struct bgp_fsm_in {
	enum bgp_event ev;
	uint16_t peer_hold;      /* BGP_EV_OPEN */
	uint8_t code, subcode;   /* BGP_EV_MSG_ERROR / BGP_EV_UPDATE_ERROR: NOTIFICATION to send */
};

struct bgp_fsm_out {
	uint32_t actions;
	uint8_t code, subcode;   /* with BGP_ACT_SEND_NOTIF */
	enum bgp_state from;     /* the state before the step */
};

void bgp_fsm_init(struct bgp_fsm *f, uint16_t hold, uint16_t connretry, bool passive);
/* One step. Never fails: an event that makes no sense in the state is an
 * FSM Error (NOTIFICATION 5 with the state as subcode, RFC 6608) where RFC
 * 4271 says so, or ignored in Idle. */
struct bgp_fsm_out bgp_fsm_step(struct bgp_fsm *f, const struct bgp_fsm_in *in);
/* Convenience for events without arguments. */
struct bgp_fsm_out bgp_fsm_event(struct bgp_fsm *f, enum bgp_event ev);

/*
 * RFC 4271 §6.8: two connections to one peer, the BGP identifiers known.
 * Returns true when the connection that WE initiated must be closed (the
 * local identifier is lower than the remote one), false when the one the
 * peer initiated must go.
 */
bool bgp_fsm_collision_close_ours(uint32_t local_id, uint32_t remote_id);

const char *bgp_state_name(enum bgp_state s);
const char *bgp_event_name(enum bgp_event ev);

#endif /* TERN_BGP_FSM_H */
