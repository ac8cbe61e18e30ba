# Answers (issue 4): every registration, update, cancellation and question
# of the labelled corpus gets exactly one reply, in its writer's language,
# that GMime reads back with the right headers; machines get none; a second
# copy gets none; confirmations apply what they confirm, once.
source "$(dirname "$0")/lib.sh"
CORPUS=${CORPUS:-$ROOT/../shared/corpus}
export CONFMAIL_NOW=2022-01-25T09:00:00Z

# new_instance NAME: a fresh database and outbox Maildir; sets $CONF.
new_instance() {
	export CONFMAIL_DATABASE=$TMP/$1.sqlite
	CONF=$(conf_with transport maildir "$TMP/$1.outbox")
	"$CONFMAIL" -c "$CONF" init >/dev/null || notok "init $1"
}
deliver() { "$CONFMAIL" -c "$CONF" filter "$@"; }
# The Reply-To address of the last message queued.
reply_to_of_last() {
	sql "SELECT content FROM outbox ORDER BY id DESC LIMIT 1" >"$TMP/last.eml"
	python3 -c 'import sys,email,email.utils as u; m=email.message_from_binary_file(open(sys.argv[1],"rb")); print(u.parseaddr(m["Reply-To"] or "")[1])' "$TMP/last.eml"
}
run_queue() { "$CONFMAIL" -c "$CONF" queue run --once >/dev/null; }

# header FILE NAME: a header of a message (of its first MIME part for
# Content-*), decoded, read by Python's email package.
header() {
	python3 - "$1" "$2" <<'PY'
import sys, email, email.policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
name = sys.argv[2]
v = m.get(name)
if v is None and name.lower().startswith("content-") and m.is_multipart():
    v = m.get_payload(0).get(name)
print("" if v is None else str(v))
PY
}

if [ -d "$CORPUS" ]; then
	n=0 bad=0
	for eml in "$CORPUS"/*.eml; do
		case=$(basename "$eml" .eml)
		kind=${case%%-*}
		new_instance "c-$case"
		deliver <"$eml" || { notok "$case: filter failed"; continue; }
		deliver <"$eml"		# the same message again: no second reply
		run_queue
		# the answer to the sender; a question also goes to its
		# coordinators (tickets.sh), which is not a reply
		got=$(sql "SELECT count(*) FROM outbox WHERE kind = 'reply'")
		case $kind in
		reg|upd|cancel|q|sub|unsub) want=1 ;;
		*) want=0 ;;
		esac
		n=$((n + 1))
		if [ "$got" != "$want" ]; then
			notok "$case: $got replies, want $want"
			bad=$((bad + 1))
			continue
		fi
		[ "$want" = 1 ] || continue
		reply=$(ls "$TMP/c-$case.outbox/new/"*O"$(sql "SELECT id FROM outbox WHERE kind = 'reply'")".*)
		registered=$(sql "SELECT email FROM registrations LIMIT 1")
		"$CONFMAIL" parse --json "$reply" >"$TMP/reply.json" 2>/dev/null || { notok "$case: GMime cannot read the reply"; bad=$((bad + 1)); continue; }
		# one Python for every check of this reply (they are many cases)
		problems=$(python3 - "$eml" "${eml%.eml}.json" "$reply" "$TMP/reply.json" "$registered" "$kind" <<'PY'
import email, email.policy, email.utils as u, json, sys
eml, label, reply, parsed, registered, kind = sys.argv[1:]
src = email.message_from_binary_file(open(eml, "rb"), policy=email.policy.default)
out = email.message_from_binary_file(open(reply, "rb"), policy=email.policy.default)
lang = json.load(open(label))["language"]
lang = lang if lang in ("en", "ar", "ckb") else "en"
to_want = registered or u.parseaddr(str(src["From"]))[1].lower()
gm = json.load(open(parsed))["mail"]
problems = []
# GMime's reading of the reply: from us, automatic, tagged with the
# reference (a cancellation from an unknown address has none to cite)
if gm["from"] != "register@icssi.example" or gm["noreply"] != "Auto-Submitted":
    problems.append(f"GMime sees from={gm['from']} noreply={gm['noreply']}")
if "[ICSSI22-" not in gm["subject"] and kind not in ("cancel", "sub", "unsub"):
    problems.append(f"no reference in '{gm['subject']}'")
first = out.get_payload(0) if out.is_multipart() else out
if str(first.get("Content-Language", out.get("Content-Language"))) != lang:
    problems.append(f"language {first.get('Content-Language')} not {lang}")
if to_want not in str(out["To"]):
    problems.append(f"To {out['To']} is not {to_want}")
if str(out["In-Reply-To"]).strip() != str(src["Message-ID"]).strip():
    problems.append(f"In-Reply-To {out['In-Reply-To']} not {src['Message-ID']}")
if str(out["Auto-Submitted"]) != "auto-replied" or str(out["X-Loop"]) != "register@icssi.example":
    problems.append("no Auto-Submitted or X-Loop")
print("; ".join(problems))
PY
)
		if [ -n "$problems" ]; then notok "$case: $problems"; bad=$((bad + 1)); fi
	done
	equal "corpus: exactly one reply to each person's registration, update, cancellation, question and (un)subscription, none to machines or to a second copy ($n cases)" "$bad" 0
else
	skip "no $CORPUS beside the checkout"
fi

# --- Confirmations ---------------------------------------------------------
new_instance confirm
equal "confirm: init made the token secret, readable by its owner only" "$(stat -c %a "$CONFMAIL_DATABASE.secret")" 600
reg() {	# reg FROM SUBJECT BODY MESSAGE-ID
	printf 'From: %s\nTo: register@icssi.example\nSubject: %s\nMessage-ID: <%s>\nDate: Mon, 24 Jan 2022 09:00:00 +0000\n\n%s\n' "$1" "$2" "$4" "$3"
}
FORM='Name: Hana Saleh
Organisation: Nineveh Women Forum
Country: Iraq
Funding: we cover our own travel
I accept the principles of the conference: yes'
reg hana@nineveh.example "Registration" "$FORM" r1@nineveh.example | deliver -r register@icssi.example
ref=$(sql "SELECT reference FROM registrations WHERE email = 'hana@nineveh.example'")
equal "confirm: the registration is recorded" "$ref" ICSSI22-0001

# A stranger asks to change Hana's arrival: Hana is asked, nothing changes yet.
reg someone@else.example "Update $ref" "Please change her arrival.
Arrival date: 12 March 2022" u1@else.example | deliver -r register@icssi.example
equal "confirm: a change from another address waits" "$(sql "SELECT count(*) FROM registration_changes WHERE state = 'pending'")" 1
row=$(sql "SELECT recipient, template FROM outbox ORDER BY id DESC LIMIT 1")
equal "confirm: the registered address is asked to confirm the change" "$row" "hana@nineveh.example|confirm-change"
token_rcpt=$(reply_to_of_last)
check "confirm: the request carries a confirm+TOKEN@ reply address" test -n "$token_rcpt"
tok=${token_rcpt#confirm+}; tok=${tok%@*}
case $(header "$TMP/last.eml" Subject) in
*"[confirm $tok]") ok "confirm: ... and the token in its subject" ;;
*) notok "confirm: ... and the token in its subject ($(header "$TMP/last.eml" Subject))" ;;
esac

# The stranger cannot confirm it, even with the token.
reg someone@else.example "Re: confirm" "yes" c0@else.example | deliver -r "$token_rcpt"
equal "confirm: the token is useless from another address" "$(sql "SELECT count(*) FROM registration_changes WHERE state = 'pending'")" 1
equal "confirm: ... and that address is told so" "$(sql "SELECT template FROM outbox ORDER BY id DESC LIMIT 1")" confirm-failed
# A tampered token does nothing.
tampered=$(echo "$token_rcpt" | sed 's/[0-9a-f]@/0@/; t; s/[0-9a-f]@/1@/')
[ "$tampered" = "$token_rcpt" ] && tampered=$(echo "$token_rcpt" | sed 's/0@/1@/')
reg hana@nineveh.example "Re: confirm" "yes" c1@nineveh.example | deliver -r "$tampered"
equal "confirm: a tampered token changes nothing" "$(sql "SELECT count(*) FROM registration_changes WHERE state = 'pending'")" 1
equal "confirm: ... and gets a polite explanation" "$(sql "SELECT template FROM outbox ORDER BY id DESC LIMIT 1")" confirm-failed
# Hana confirms: the change is applied, and she is told.
reg hana@nineveh.example "Re: confirm" "yes" c2@nineveh.example | deliver -r "$token_rcpt"
equal "confirm: the owner's confirmation applies the change" "$(sql "SELECT json_extract(fields, '$.arrival') FROM registrations")" 2022-03-12
equal "confirm: ... and she gets the update" "$(sql "SELECT template FROM outbox ORDER BY id DESC LIMIT 1")" updated
# Replayed: nothing more happens, and she is told it was already done.
reg hana@nineveh.example "Re: confirm" "yes" c3@nineveh.example | deliver -r "$token_rcpt"
equal "confirm: a replayed token does nothing again" "$(sql "SELECT count(*) FROM registration_changes WHERE kind = 'update' AND state = 'applied'")" 1
equal "confirm: ... and says so" "$(sql "SELECT template FROM outbox ORDER BY id DESC LIMIT 1")" confirm-failed

# Cancelling needs the owner's confirmation too, and an expired token fails.
reg hana@nineveh.example "Cancel $ref" "I must cancel my registration, I cannot attend." x1@nineveh.example | deliver -r register@icssi.example
equal "cancel: asked, not yet done" "$(sql "SELECT status || '/' || pending FROM registrations")" registered/cancel
cancel_rcpt=$(reply_to_of_last)
equal "cancel: the confirmation request goes out" "$(sql "SELECT template FROM outbox ORDER BY id DESC LIMIT 1")" cancel-confirm
CONFMAIL_NOW=2022-02-20T09:00:00Z deliver -r "$cancel_rcpt" < <(reg hana@nineveh.example "Re: cancel" "yes" x2@nineveh.example)
equal "cancel: an expired token cancels nothing" "$(sql "SELECT status FROM registrations")" registered
grep -q 'expired' <(sql "SELECT content FROM outbox ORDER BY id DESC LIMIT 1") || true
deliver -r "$cancel_rcpt" < <(reg hana@nineveh.example "Re: cancel" "yes" x3@nineveh.example)
equal "cancel: confirmed in time, the registration is cancelled" "$(sql "SELECT status FROM registrations")" cancelled
equal "cancel: ... and she is told" "$(sql "SELECT template FROM outbox ORDER BY id DESC LIMIT 1")" cancelled
# Confirmation in the subject works too (a reply whose Reply-To was lost).
tok=${cancel_rcpt#confirm+}; tok=${tok%@*}
reg hana@nineveh.example "Re: [confirm $tok]" "yes" x4@nineveh.example | deliver -r register@icssi.example
equal "cancel: a token in the subject is read, and a second use does nothing" "$(sql "SELECT template FROM outbox ORDER BY id DESC LIMIT 1")" confirm-failed

# --- RFC 3834 and the daily limit -------------------------------------------
new_instance machines
reg noreply@bank.example "Registration" "$FORM" m1@bank.example | deliver -r register@icssi.example
printf 'From: hana@nineveh.example\nTo: register@icssi.example\nSubject: Registration\nMessage-ID: <m2@n.example>\nPrecedence: bulk\n\n%s\n' "$FORM" | deliver -r register@icssi.example
printf 'From: hana2@nineveh.example\nTo: register@icssi.example\nSubject: Registration\nMessage-ID: <m3@n.example>\nList-Id: <x.lists.example>\n\n%s\n' "$FORM" | deliver -r register@icssi.example
printf 'From: hana6@nineveh.example\nTo: register@icssi.example\nSubject: Registration\nMessage-ID: <m7@n.example>\nList-Unsubscribe: <mailto:u@lists.example>\n\n%s\n' "$FORM" | deliver -r register@icssi.example
reg info-request@lists.example "Registration" "$FORM" m8@lists.example | deliver -r register@icssi.example
reg owner-ngo@lists.example "Registration" "$FORM" m9@lists.example | deliver -r register@icssi.example
printf 'From: hana7@nineveh.example\nTo: register@icssi.example\nSubject: Registration\nMessage-ID: <m10@n.example>\nX-Auto-Response-Suppress: All\n\n%s\n' "$FORM" | deliver -r register@icssi.example
printf 'From: hana3@nineveh.example\nTo: register@icssi.example\nSubject: Registration\nMessage-ID: <m4@n.example>\nAuto-Submitted: auto-generated\n\n%s\n' "$FORM" | deliver -r register@icssi.example
printf 'From: hana4@nineveh.example\nTo: register@icssi.example\nSubject: Registration\nMessage-ID: <m5@n.example>\nX-Loop: register@icssi.example\n\n%s\n' "$FORM" | deliver -r register@icssi.example
reg hana5@nineveh.example "Registration" "$FORM" m6@n.example | deliver -r register@icssi.example -f ''
equal "machines: no reply to noreply@, Precedence: bulk, List-Id, List-Unsubscribe, *-request, owner-*, X-Auto-Response-Suppress, Auto-Submitted, our X-Loop, the null sender" "$(sql "SELECT count(*) FROM outbox")" 0
# (the null sender's message reads as a bounce, the List-Unsubscribe one as list
# mail: nothing to withhold)
equal "machines: each withheld reply is recorded with its reason" "$(sql "SELECT group_concat(reason, '; ') FROM replies_withheld")" "From is a machine address; Precedence: bulk, list or junk; list or automatic mail header; From is a machine address; From is a machine address; list or automatic mail header; Auto-Submitted; our own X-Loop"

new_instance limit
for i in $(seq 1 12); do
	reg busy@example.org "Question $i" "Is there a visa on arrival in Sulaymaniyah? ($i)" "q$i@example.org" | deliver -r info@icssi.example
done
equal "limit: at most max_replies_per_day replies to one address" "$(sql "SELECT count(*) FROM outbox WHERE kind = 'reply'")" 10
equal "limit: the rest are recorded for the organisers" "$(sql "SELECT count(*) FROM replies_withheld WHERE reason LIKE 'max_replies_per_day%'")" 2
equal "limit: every question still has its ticket" "$(sql "SELECT count(*) FROM tickets")" 12
CONFMAIL_NOW=2022-01-26T09:30:00Z deliver -r info@icssi.example < <(reg busy@example.org "Question 13" "Where is the venue?" q13@example.org)
equal "limit: a day later, replies resume" "$(sql "SELECT count(*) FROM outbox WHERE kind = 'reply'")" 11
"$CONFMAIL" -c "$CONF" stats --json >"$TMP/stats.json"
equal "stats: outbox, tickets and withheld replies are counted" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["outbox"]["queued"], d["tickets"]["open"], d["tickets"]["total"], d["replies"]["withheld"])' "$TMP/stats.json")" "$(sql "SELECT count(*) FROM outbox WHERE state = 'queued'") 13 13 2"

# --- A late registration: the participant is told, the organisers decide ----
new_instance late
CONFMAIL_NOW=2022-02-20T09:00:00Z deliver -r register@icssi.example < <(reg late@example.org "Registration" "$FORM" late1@example.org)
equal "late: the participant gets the 'late' answer, each organiser the registration" \
	"$(sql "SELECT group_concat(kind || ':' || template || ':' || recipient, ' ') FROM outbox")" \
	"forward:late:organisers@icssi.example forward:late:coordination@icssi.example reply:late:late@example.org"
sql "SELECT content FROM outbox WHERE kind = 'forward' LIMIT 1" >"$TMP/fwd.eml"
check "late: the forward carries the participant's message whole (message/rfc822)" grep -q '^Content-Type: message/rfc822' "$TMP/fwd.eml"
check "late: ... and is itself marked automatic" grep -q '^Auto-Submitted: auto-generated' "$TMP/fwd.eml"
# One over [limits] forward_whole_max (here 2K): its header and text go,
# its files are named, the whole stays in the database.
SMALL=$(conf_with limits forward_whole_max 2K)
sed -i "s|^maildir = .*|maildir = $TMP/late.outbox|" "$SMALL"
{ reg big@example.org "Registration" "$FORM" late2@example.org | sed 's/^Subject: Registration$/Subject: Registration\nMIME-Version: 1.0\nContent-Type: multipart\/mixed; boundary=b/'; } >"$TMP/big.eml"
python3 - "$TMP/big.eml" <<'PY'
import sys
p = sys.argv[1]
head, body = open(p).read().split("\n\n", 1)
att = ("QUJD" * 1200 + "\n") * 2
open(p, "w").write(head + "\n\n--b\nContent-Type: text/plain; charset=utf-8\n\n" + body +
                   "\n--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=passport.pdf\n"
                   "Content-Transfer-Encoding: base64\n\n" + att + "--b--\n")
PY
CONFMAIL_NOW=2022-02-20T09:00:00Z "$CONFMAIL" -c "$SMALL" filter -r register@icssi.example <"$TMP/big.eml"
sql "SELECT content FROM outbox WHERE kind = 'forward' ORDER BY id DESC LIMIT 1" >"$TMP/fwd-big.eml"
check "late, too big to forward whole: no message/rfc822" sh -c "! grep -q '^Content-Type: message/rfc822' '$TMP/fwd-big.eml'"
check "... its header block instead (text/rfc822-headers)" grep -q '^Content-Type: text/rfc822-headers' "$TMP/fwd-big.eml"
check "... its text" grep -q '^Name: Hana Saleh' "$TMP/fwd-big.eml"
check "... and its file named, not attached" sh -c "grep -q '    passport.pdf (application/pdf)' '$TMP/fwd-big.eml' && ! grep -q QUJDQUJD '$TMP/fwd-big.eml'"
equal "... while the message is kept whole" "$(sql "SELECT length(raw) > 9000 FROM message_raw ORDER BY message DESC LIMIT 1")" 1

# --- Two confmail instances answering each other stop at once ---------------
new_instance loopb
CONF_B=$CONF DB_B=$CONFMAIL_DATABASE
new_instance loopa
CONF_A=$CONF DB_A=$CONFMAIL_DATABASE
# B's conference has its own addresses and X-Loop.
sed -i 's/icssi\.example/other-conf.example/g' "$CONF_B"
reg register@other-conf.example "Registration" "$FORM" l0@other-conf.example >"$TMP/loop-msg"
total=0
for round in 1 2 3 4 5; do
	if [ $((round % 2)) = 1 ]; then C=$CONF_A D=$DB_A R=register@icssi.example; else C=$CONF_B D=$DB_B R=register@other-conf.example; fi
	before=$(sqlite3 "$D" "SELECT count(*) FROM outbox")
	CONFMAIL_DATABASE=$D "$CONFMAIL" -c "$C" filter -r "$R" <"$TMP/loop-msg"
	after=$(sqlite3 "$D" "SELECT count(*) FROM outbox")
	[ "$after" = "$before" ] && break
	total=$((total + after - before))
	sqlite3 "$D" "SELECT content FROM outbox ORDER BY id DESC LIMIT 1" >"$TMP/loop-msg"
done
check "loop: two instances answering each other stop within two messages ($total sent)" test "$total" -le 2

# --- confmail check and preview ----------------------------------------------
expect_rc 0 "check: the shipped templates are valid" "$CONFMAIL" check
broken=$TMP/templates
cp -R "$ROOT/templates" "$broken"
printf 'Subject: Hello {{nmae}}\n\n{{#if late}}\nnever closed\n' >"$broken/en/help.tmpl"
rm "$broken/ar/late.tmpl"
CONFMAIL_TEMPLATES=$broken expect_rc 78 "check: a broken template fails the check" "$CONFMAIL" check
check "check: ... naming file and line" grep -q "en/help.tmpl:3: {{#if late}} is never closed" "$TMP/err"
printf 'Subject: Hello {{nmae}}\n\nHi\n' >"$broken/en/help.tmpl"
CONFMAIL_TEMPLATES=$broken expect_rc 78 "check: an unknown variable fails the check" "$CONFMAIL" check
check "check: ... naming file, line and variable" grep -q "en/help.tmpl:1: unknown variable 'nmae'" "$TMP/err"
cp "$ROOT/templates/en/help.tmpl" "$broken/en/help.tmpl"
CONFMAIL_TEMPLATES=$broken expect_rc 0 "check: a missing translation is not an error" "$CONFMAIL" check
check "check: ... but it is said that English is sent instead" grep -q "ar/late.tmpl: missing; English is sent instead" "$TMP/out"
finish
