/* dsn.c: RFC 3464 reports and the non-standard bounces. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "confmail.h"

/* Parses TEXT as a message and reads it as a bounce. */
static bool
parse_bounce(const char *text, struct bounce *b)
{
	GByteArray *raw = g_byte_array_new();
	g_byte_array_append(raw, (const guint8 *)text, (guint)strlen(text));
	struct mail *m = mail_parse(raw);
	bool found = dsn_parse(m, b);
	mail_free(m);
	g_byte_array_free(raw, TRUE);
	return found;
}

static void
assert_recipients(const struct bounce *b, const char *const *want, guint n)
{
	assert_non_null(b->recipients);
	assert_int_equal(b->recipients->len, n);
	for (guint i = 0; i < n; i++)
		assert_string_equal(g_ptr_array_index(b->recipients, i), want[i]);
}

#define REPORT_HEAD(subject) \
	"Return-Path: <>\n" \
	"From: MAILER-DAEMON@mail.icssi.example (Mail Delivery System)\n" \
	"To: bounces+17@icssi.example\n" \
	"Subject: " subject "\n" \
	"MIME-Version: 1.0\n" \
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n" \
	"--B\nContent-Type: text/plain\n\nThe mail system\n\n" \
	"--B\nContent-Type: message/delivery-status\n\n" \
	"Reporting-MTA: dns; mail.icssi.example\n" \
	"X-Postfix-Sender: rfc822; bounces+17@icssi.example\n\n"

#define RETURNED_HEADERS \
	"--B\nContent-Type: text/rfc822-headers\n\n" \
	"From: ICSSI <announce@icssi.example>\n" \
	"To: Someone.Else@Other.example\n" \
	"Subject: [ICSSI] Reminder\n\n" \
	"--B--\n"

static void
test_rfc3464_failed(void **state)
{
	(void)state;
	struct bounce b;
	g_autofree char *path = g_build_filename(TOP_SRCDIR, "tests", "data", "bounce-dsn.eml", NULL);
	g_autofree char *text = NULL;
	assert_true(g_file_get_contents(path, &text, NULL, NULL));
	assert_true(parse_bounce(text, &b));
	assert_recipients(&b, (const char *[]){ "nobody@gone.example" }, 1);
	assert_true(b.permanent);
	bounce_clear(&b);
	assert_null(b.recipients);
	bounce_clear(&b);	/* twice is harmless */

	/* folded fields, CRLF, Original-Recipient when Final-Recipient is
	 * unusable, and no Action: the status class decides */
	assert_true(parse_bounce(
		REPORT_HEAD("Undelivered Mail Returned to Sender")
		"Final-Recipient: x400;\r\n  /C=IQ/O=Example/\r\n"
		"Original-Recipient: rfc822;\r\n <K.Mahdi@AlRafidain-NGO.example>\r\n"
		"Status: 5.1.1 (user unknown)\r\n\r\n"
		RETURNED_HEADERS, &b));
	assert_recipients(&b, (const char *[]){ "k.mahdi@alrafidain-ngo.example" }, 1);
	assert_true(b.permanent);
	bounce_clear(&b);
}

static void
test_rfc3464_delayed(void **state)
{
	(void)state;
	struct bounce b;
	assert_true(parse_bounce(
		REPORT_HEAD("Delayed Mail (still being retried)")
		"Final-Recipient: rfc822; shirin@sulynet.example\n"
		"Action: delayed\n"
		"Status: 4.4.1\n"
		"Will-Retry-Until: Sun, 13 Feb 2022 11:29:50 +0300\n\n"
		RETURNED_HEADERS, &b));
	assert_recipients(&b, (const char *[]){ "shirin@sulynet.example" }, 1);
	assert_false(b.permanent);
	bounce_clear(&b);
}

static void
test_rfc3464_two_recipients(void **state)
{
	(void)state;
	struct bounce b;
	/* the second group follows without a blank line; one is listed twice */
	assert_true(parse_bounce(
		REPORT_HEAD("Mail delivery failed")
		"Action: failed\n"
		"Final-Recipient: rfc822;j.martin@lyon-asso.example\n"
		"Status: 5.0.0\n\n"
		"Action: delayed\n"
		"Final-Recipient: rfc822;Secretariat@Lyon-Asso.example\n"
		"Status: 4.2.2\n"
		"Final-Recipient: rfc822;j.martin@lyon-asso.example\n"
		"Action: failed\n"
		"Status: 5.0.0\n\n"
		RETURNED_HEADERS, &b));
	assert_recipients(&b, (const char *[]){
		"j.martin@lyon-asso.example", "secretariat@lyon-asso.example" }, 2);
	assert_true(b.permanent);	/* one failed for good */
	bounce_clear(&b);
}

static void
test_rfc3464_delivered(void **state)
{
	(void)state;
	struct bounce b;
	assert_true(parse_bounce(
		REPORT_HEAD("Delivery Status Notification")
		"Final-Recipient: rfc822; ok@fine.example\n"
		"Action: delivered\n"
		"Status: 2.0.0\n\n"
		"Final-Recipient: rfc822; gone@away.example\n"
		"Action: failed\n"
		"Status: 5.1.1\n\n"
		"Final-Recipient: rfc822; list@relay.example\n"
		"Action: relayed\n"
		"Status: 2.0.0\n\n"
		RETURNED_HEADERS, &b));
	assert_recipients(&b, (const char *[]){ "gone@away.example" }, 1);
	assert_true(b.permanent);
	bounce_clear(&b);

	/* a success notice only: not a bounce, whatever the text says */
	assert_false(parse_bounce(
		REPORT_HEAD("Successful Mail Delivery Report")
		"Final-Recipient: rfc822; ok@fine.example\n"
		"Action: delivered\n"
		"Status: 2.0.0\n\n"
		RETURNED_HEADERS, &b));
	assert_null(b.recipients);
	assert_false(b.permanent);
}

static void
test_qmail(void **state)
{
	(void)state;
	struct bounce b;
	assert_true(parse_bounce(
		"Return-Path: <>\n"
		"From: MAILER-DAEMON@mx.basra-mail.example\n"
		"To: register@icssi.example\n"
		"Subject: failure notice\n\n"
		"Hi. This is the qmail-send program at mx.basra-mail.example.\n"
		"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
		"This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
		"<Ali.Basri@basra-mail.example>:\n"
		"203.0.113.61 does not like recipient.\n"
		"Remote host said: 550 5.1.1 <ali.basri@basra-mail.example>... no mailbox here\n"
		"Giving up on 203.0.113.61.\n\n"
		"--- Below this line is a copy of the message.\n\n"
		"Return-Path: <register@icssi.example>\n"
		"From: ICSSI Registration <register@icssi.example>\n"
		"To: ali.basri@basra-mail.example, cc.person@basra-mail.example\n"
		"Subject: Re: Registration\n\n"
		"Dear Ali, write to info@icssi.example.\n", &b));
	assert_recipients(&b, (const char *[]){ "ali.basri@basra-mail.example" }, 1);
	assert_true(b.permanent);
	bounce_clear(&b);
}

static void
test_exim(void **state)
{
	(void)state;
	struct bounce b;
	assert_true(parse_bounce(
		"Return-Path: <>\n"
		"From: Mail Delivery System <Mailer-Daemon@mail.lyon-asso.example>\n"
		"To: bounces+42@icssi.example\n"
		"Subject: Mail delivery failed: returning message to sender\n\n"
		"This message was created automatically by mail delivery software.\n\n"
		"A message that you sent could not be delivered to one or more of its\n"
		"recipients. This is a permanent error. The following address(es) failed:\n\n"
		"  j.martin@lyon-asso.example\n"
		"    SMTP error from remote mail server after RCPT TO:<j.martin@lyon-asso.example>:\n"
		"    host mx.lyon-asso.example [198.51.100.77]: 550 5.1.1 unknown user\n"
		"  secretariat@lyon-asso.example\n"
		"    Unrouteable address\n\n"
		"------ This is a copy of the message, including all the headers. ------\n\n"
		"Return-path: <bounces+42@icssi.example>\n"
		"From: ICSSI Announcements <announce@icssi.example>\n"
		"To: j.martin@lyon-asso.example, secretariat@lyon-asso.example\n\n"
		"Please register at register@icssi.example.\n", &b));
	assert_recipients(&b, (const char *[]){
		"j.martin@lyon-asso.example", "secretariat@lyon-asso.example" }, 2);
	assert_true(b.permanent);
	bounce_clear(&b);

	/* Exim's delay warning: 4xx and "not yet been delivered" */
	assert_true(parse_bounce(
		"Return-Path: <>\n"
		"From: Mail Delivery System <Mailer-Daemon@mail.lyon-asso.example>\n"
		"To: bounces+42@icssi.example\n"
		"Subject: Warning: message 1nHMi7-0002Zk-4R delayed 24 hours\n\n"
		"This message was created automatically by mail delivery software.\n"
		"A message that you sent has not yet been delivered to one or more of its\n"
		"recipients after more than 24 hours on the queue on mail.lyon-asso.example.\n\n"
		"The message identifier is:     1nHMi7-0002Zk-4R\n"
		"The address to which the message has not yet been delivered is:\n\n"
		"  full@lyon-asso.example\n"
		"    Delay reason: SMTP error from remote mail server after RCPT TO:<full@lyon-asso.example>:\n"
		"    host mx.lyon-asso.example [198.51.100.77]: 452 4.2.2 Mailbox full\n\n"
		"No action is required on your part.\n", &b));
	assert_recipients(&b, (const char *[]){ "full@lyon-asso.example" }, 1);
	assert_false(b.permanent);
	bounce_clear(&b);
}

static void
test_other_texts(void **state)
{
	(void)state;
	struct bounce b;
	/* Exchange: the address under a heading, after a display name */
	assert_true(parse_bounce(
		"From: Microsoft Outlook <postmaster@ngo.example>\n"
		"To: info@icssi.example\n"
		"Subject: Undeliverable: Registration\n"
		"Content-Type: text/plain\n\n"
		"Delivery has failed to these recipients or groups:\n\n"
		"Hawre Aziz (Hawre@NGO.example)\n"
		"The email address you entered couldn't be found.\n\n"
		"Diagnostic information for administrators:\n\n"
		"Generating server: MAIL01.ngo.local\n"
		"Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound'\n\n"
		"Original message headers:\n\n"
		"From: ICSSI <info@icssi.example>\n"
		"To: Hawre@NGO.example\n", &b));
	assert_recipients(&b, (const char *[]){ "hawre@ngo.example" }, 1);
	assert_true(b.permanent);
	bounce_clear(&b);

	/* Postfix text: a full mailbox is temporary while it is retried... */
	assert_true(parse_bounce(
		"From: MAILER-DAEMON@mail.icssi.example (Mail Delivery System)\n"
		"To: bounces+42@icssi.example\n"
		"Subject: Delayed Mail (still being retried)\n\n"
		"Your message could not be delivered for more than 4 hour(s).\n"
		"It will be retried until it is 5 day(s) old.\n\n"
		"<shirin@sulynet.example>: host mx.sulynet.example[203.0.113.90] said: 452\n"
		"    4.2.2 <shirin@sulynet.example>: Mailbox full (in reply to RCPT TO command)\n", &b));
	assert_recipients(&b, (const char *[]){ "shirin@sulynet.example" }, 1);
	assert_false(b.permanent);
	bounce_clear(&b);

	/* ...and permanent with 5.2.2 */
	assert_true(parse_bounce(
		"From: MAILER-DAEMON@mail.icssi.example (Mail Delivery System)\n"
		"To: bounces+42@icssi.example\n"
		"Subject: Undelivered Mail Returned to Sender\n\n"
		"I'm sorry to have to inform you that your message could not\n"
		"be delivered to one or more recipients.\n\n"
		"<shirin@sulynet.example>: host mx.sulynet.example said: 552 5.2.2\n"
		"    Mailbox full (in reply to RCPT TO command)\n", &b));
	assert_true(b.permanent);
	bounce_clear(&b);

	/* Gmail, with the failed address in X-Failed-Recipients */
	assert_true(parse_bounce(
		"Return-Path: <>\n"
		"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
		"To: info@icssi.example\n"
		"X-Failed-Recipients: Hawre.Aziz@kurdmail.example\n"
		"Subject: Delivery Status Notification (Failure)\n\n"
		"** Address not found **\n\n"
		"Your message wasn't delivered to hawre.aziz@kurdmail.example because the "
		"address couldn't be found. Contact help@google.example for more.\n", &b));
	assert_recipients(&b, (const char *[]){ "hawre.aziz@kurdmail.example" }, 1);
	assert_true(b.permanent);
	bounce_clear(&b);
}

static void
test_not_a_bounce(void **state)
{
	(void)state;
	struct bounce b;
	/* a person's mail that talks about delivery */
	assert_false(parse_bounce(
		"From: Amal <amal@ngo.example>\n"
		"To: register@icssi.example\n"
		"Subject: my registration could not be delivered?\n\n"
		"My colleague karim@ngo.example says your mail was undeliverable.\n", &b));
	assert_null(b.recipients);

	/* an auto-reply sent with the null sender */
	assert_false(parse_bounce(
		"Return-Path: <>\n"
		"From: Karim <karim@ngo.example>\n"
		"Auto-Submitted: auto-replied\n"
		"Subject: Out of office\n\n"
		"I am away until 1 March; please write to office@ngo.example.\n", &b));
	assert_null(b.recipients);

	/* a mail system's notice that names nobody */
	assert_false(parse_bounce(
		"Return-Path: <>\n"
		"From: MAILER-DAEMON@mail.icssi.example\n"
		"Subject: Undelivered Mail Returned to Sender\n\n"
		"Your message could not be delivered.\n", &b));
	assert_null(b.recipients);
}

static void
test_quarantined(void **state)
{
	(void)state;
	struct bounce b;
	assert_false(parse_bounce("", &b));
	assert_null(b.recipients);
	assert_false(parse_bounce("\x01\x02 just bytes\n\nFinal-Recipient: rfc822; x@y.example\n", &b));
	assert_null(b.recipients);
	assert_false(dsn_parse(NULL, &b));
	assert_null(b.recipients);
}

int
main(void)
{
	g_mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3464_failed),
		cmocka_unit_test(test_rfc3464_delayed),
		cmocka_unit_test(test_rfc3464_two_recipients),
		cmocka_unit_test(test_rfc3464_delivered),
		cmocka_unit_test(test_qmail),
		cmocka_unit_test(test_exim),
		cmocka_unit_test(test_other_texts),
		cmocka_unit_test(test_not_a_bounce),
		cmocka_unit_test(test_quarantined),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	g_mime_shutdown();
	return failed;
}
