/* DOC: bgp_fsm_test.c — the RFC 4271 FSM driven event by event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bgp_fsm.h"
#include "bgp_msg.h"

static struct bgp_fsm_out ev(struct bgp_fsm *f, enum bgp_event e)
{
	return bgp_fsm_event(f, e);
}

/* Active open all the way to Established, with the timers each step asks for. */
static void test_active_open(void **state)
{
	(void)state;
	struct bgp_fsm f;
	bgp_fsm_init(&f, 90, 5, false);
	struct bgp_fsm_out o = ev(&f, BGP_EV_START);
	assert_int_equal(f.state, BGP_CONNECT);
	assert_true(o.actions & BGP_ACT_CONNECT);
	assert_true(o.actions & BGP_ACT_CONNRETRY_START);
	o = ev(&f, BGP_EV_TCP_CONNECTED);
	assert_int_equal(f.state, BGP_OPENSENT);
	assert_int_equal(o.actions, BGP_ACT_CONNRETRY_STOP | BGP_ACT_SEND_OPEN | BGP_ACT_HOLD_START);
	assert_int_equal(f.hold_s, BGP_LARGE_HOLD);
	struct bgp_fsm_in in = { .ev = BGP_EV_OPEN, .peer_hold = 30 };
	o = bgp_fsm_step(&f, &in);
	assert_int_equal(f.state, BGP_OPENCONFIRM);
	assert_true(o.actions & BGP_ACT_SEND_KEEPALIVE);
	assert_true(o.actions & BGP_ACT_KEEPALIVE_START);
	assert_int_equal(f.hold_s, 30);      /* the smaller hold time */
	assert_int_equal(f.keepalive_s, 10);
	o = ev(&f, BGP_EV_KEEPALIVE);
	assert_int_equal(f.state, BGP_ESTABLISHED);
	assert_true(o.actions & BGP_ACT_ESTABLISHED);
	o = ev(&f, BGP_EV_UPDATE);
	assert_int_equal(o.actions, BGP_ACT_PROCESS_UPDATE | BGP_ACT_HOLD_START);
	o = ev(&f, BGP_EV_KEEPALIVE_TIMER);
	assert_int_equal(o.actions, BGP_ACT_SEND_KEEPALIVE | BGP_ACT_KEEPALIVE_START);
}

static void establish(struct bgp_fsm *f, uint16_t peer_hold)
{
	bgp_fsm_init(f, 90, 5, false);
	ev(f, BGP_EV_START);
	ev(f, BGP_EV_TCP_CONNECTED);
	struct bgp_fsm_in in = { .ev = BGP_EV_OPEN, .peer_hold = peer_hold };
	bgp_fsm_step(f, &in);
	ev(f, BGP_EV_KEEPALIVE);
	assert_int_equal(f->state, BGP_ESTABLISHED);
}

/* Hold time 0 on either side: no hold timer, no keepalives. */
static void test_hold_zero(void **state)
{
	(void)state;
	struct bgp_fsm f;
	bgp_fsm_init(&f, 90, 5, false);
	ev(&f, BGP_EV_START);
	ev(&f, BGP_EV_TCP_CONNECTED);
	struct bgp_fsm_in in = { .ev = BGP_EV_OPEN, .peer_hold = 0 };
	struct bgp_fsm_out o = bgp_fsm_step(&f, &in);
	assert_false(o.actions & BGP_ACT_HOLD_START);
	assert_true(o.actions & BGP_ACT_HOLD_STOP);
	assert_int_equal(f.keepalive_s, 0);
	o = ev(&f, BGP_EV_KEEPALIVE);
	assert_false(o.actions & BGP_ACT_HOLD_START);
}

static void test_hold_expires(void **state)
{
	(void)state;
	struct bgp_fsm f;
	establish(&f, 9);
	struct bgp_fsm_out o = ev(&f, BGP_EV_HOLD_TIMER);
	assert_int_equal(f.state, BGP_IDLE);
	assert_true(o.actions & BGP_ACT_SEND_NOTIF);
	assert_int_equal(o.code, BGP_NOTIF_HOLD);
	assert_true(o.actions & BGP_ACT_DOWN);
	assert_true(o.actions & BGP_ACT_CLOSE);
	assert_true(o.actions & BGP_ACT_KEEPALIVE_STOP);
}

/* Connect fails: Active with the timer; the timer: Connect again. */
static void test_connect_retry(void **state)
{
	(void)state;
	struct bgp_fsm f;
	bgp_fsm_init(&f, 90, 5, false);
	ev(&f, BGP_EV_START);
	struct bgp_fsm_out o = ev(&f, BGP_EV_TCP_FAILED);
	assert_int_equal(f.state, BGP_ACTIVE);
	assert_true(o.actions & BGP_ACT_CONNRETRY_START);
	o = ev(&f, BGP_EV_CONNRETRY_TIMER);
	assert_int_equal(f.state, BGP_CONNECT);
	assert_true(o.actions & BGP_ACT_CONNECT);
	/* timer again while the connect hangs: abandon and retry */
	o = ev(&f, BGP_EV_CONNRETRY_TIMER);
	assert_int_equal(f.state, BGP_CONNECT);
	assert_true(o.actions & BGP_ACT_CLOSE);
	assert_true(o.actions & BGP_ACT_CONNECT);
}

/* A passive peer never connects. */
static void test_passive(void **state)
{
	(void)state;
	struct bgp_fsm f;
	bgp_fsm_init(&f, 90, 5, true);
	struct bgp_fsm_out o = ev(&f, BGP_EV_START);
	assert_int_equal(f.state, BGP_ACTIVE);
	assert_false(o.actions & BGP_ACT_CONNECT);
	o = ev(&f, BGP_EV_CONNRETRY_TIMER);
	assert_int_equal(f.state, BGP_ACTIVE);
	assert_false(o.actions & BGP_ACT_CONNECT);
	o = ev(&f, BGP_EV_TCP_CONNECTED);
	assert_int_equal(f.state, BGP_OPENSENT);
	assert_true(o.actions & BGP_ACT_SEND_OPEN);
}

/* Unexpected messages: FSM Error with the RFC 6608 subcode of the state. */
static void test_fsm_errors(void **state)
{
	(void)state;
	struct bgp_fsm f;
	bgp_fsm_init(&f, 90, 5, false);
	ev(&f, BGP_EV_START);
	ev(&f, BGP_EV_TCP_CONNECTED);
	struct bgp_fsm_out o = ev(&f, BGP_EV_UPDATE);
	assert_int_equal(f.state, BGP_IDLE);
	assert_int_equal(o.code, BGP_NOTIF_FSM);
	assert_int_equal(o.subcode, 1);
	establish(&f, 90);
	struct bgp_fsm_in in = { .ev = BGP_EV_OPEN, .peer_hold = 90 };
	o = bgp_fsm_step(&f, &in);
	assert_int_equal(o.code, BGP_NOTIF_FSM);
	assert_int_equal(o.subcode, 3);
	assert_true(o.actions & BGP_ACT_DOWN);
}

static void test_update_error_and_stop(void **state)
{
	(void)state;
	struct bgp_fsm f;
	establish(&f, 90);
	struct bgp_fsm_in in = { .ev = BGP_EV_UPDATE_ERROR, .code = 3, .subcode = 9 };
	struct bgp_fsm_out o = bgp_fsm_step(&f, &in);
	assert_int_equal(o.code, 3);
	assert_int_equal(o.subcode, 9);
	assert_int_equal(f.state, BGP_IDLE);
	establish(&f, 90);
	o = ev(&f, BGP_EV_STOP);
	assert_int_equal(o.code, BGP_NOTIF_CEASE);
	assert_int_equal(o.subcode, BGP_CEASE_ADMIN_DOWN);
	/* In Idle, everything but Start is ignored. */
	o = ev(&f, BGP_EV_KEEPALIVE);
	assert_int_equal(o.actions, 0);
	assert_int_equal(f.state, BGP_IDLE);
}

static void test_collision(void **state)
{
	(void)state;
	assert_true(bgp_fsm_collision_close_ours(0x01010101, 0x02020202));
	assert_false(bgp_fsm_collision_close_ours(0x02020202, 0x01010101));
	struct bgp_fsm f;
	bgp_fsm_init(&f, 90, 5, false);
	ev(&f, BGP_EV_START);
	ev(&f, BGP_EV_TCP_CONNECTED);
	struct bgp_fsm_in in = { .ev = BGP_EV_OPEN, .peer_hold = 90 };
	bgp_fsm_step(&f, &in);
	struct bgp_fsm_out o = ev(&f, BGP_EV_COLLISION);
	assert_int_equal(f.state, BGP_IDLE);
	assert_int_equal(o.code, BGP_NOTIF_CEASE);
	assert_int_equal(o.subcode, BGP_CEASE_COLLISION);
}

/* OpenSent and the connection drops: back to Active (§8.2.2). */
static void test_opensent_tcp_fail(void **state)
{
	(void)state;
	struct bgp_fsm f;
	bgp_fsm_init(&f, 90, 5, false);
	ev(&f, BGP_EV_START);
	ev(&f, BGP_EV_TCP_CONNECTED);
	struct bgp_fsm_out o = ev(&f, BGP_EV_TCP_FAILED);
	assert_int_equal(f.state, BGP_ACTIVE);
	assert_true(o.actions & BGP_ACT_CONNRETRY_START);
	assert_true(o.actions & BGP_ACT_CLOSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_active_open),
		cmocka_unit_test(test_hold_zero),
		cmocka_unit_test(test_hold_expires),
		cmocka_unit_test(test_connect_retry),
		cmocka_unit_test(test_passive),
		cmocka_unit_test(test_fsm_errors),
		cmocka_unit_test(test_update_error_and_stop),
		cmocka_unit_test(test_collision),
		cmocka_unit_test(test_opensent_tcp_fail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
