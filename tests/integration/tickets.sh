# The question desk (issue 6), end to end with the maildir transport: every
# question of the labelled corpus opens one ticket that reaches its
# topic's coordinators; a coordinator's answer reaches the participant in
# the thread of the question without the quoted forward; a stranger's mail
# to a ticket address and a "#comment" never reach the participant;
# reassigning, closing, follow-ups and reminders (after 48 h, once a day).
source "$(dirname "$0")/lib.sh"
CORPUS=${CORPUS:-$ROOT/../shared/corpus}
export CONFMAIL_NOW=2022-01-25T09:00:00Z
CONF=$(conf_with transport maildir "$TMP/outbox")
"$CONFMAIL" -c "$CONF" init >/dev/null
deliver() { "$CONFMAIL" -c "$CONF" filter "$@"; }
# rows_since ID: "kind:recipient" of the outbox rows after ID, sorted
rows_since() { sql "SELECT kind || ':' || recipient FROM outbox WHERE id > $1 ORDER BY recipient" | tr '\n' ' ' | sed 's/ $//'; }
last_id() { sql "SELECT coalesce(max(id), 0) FROM outbox"; }
# msg FROM RCPT SUBJECT IN-REPLY-TO BODY [EXTRA-HEADER]: a message on stdout
msg() {
	printf 'From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s.%s@example.net>\nDate: Tue, 25 Jan 2022 12:00:00 +0300\n%s%s\n\n%s\n' \
		"$1" "$2" "$3" "$RANDOM$RANDOM" "$RANDOM" "${4:+In-Reply-To: <$4>
}" "${6:+$6
}" "$5" | sed '/^$/{N;/^\n$/D}'
}
# The coordinators filters/routing.rules and the sample configuration give
# each topic.
declare -A coordinators=(
	[travel]="travel@icssi.example"
	[visa]="travel@icssi.example visa@icssi.example"
	[accommodation]="hotel@icssi.example"
	[programme]="programme@icssi.example"
	[registration]="registration-desk@icssi.example"
	[funding]="funding@icssi.example"
	[other]="coordination@icssi.example organisers@icssi.example"
)

if [ ! -d "$CORPUS" ]; then
	skip "no corpus at $CORPUS"
	finish
fi

# Every question of the corpus: one ticket, its topic's coordinators.
n=0 wrong=0
for json in "$CORPUS"/*.json; do
	grep -q '"class": "question"' "$json" || continue
	eml=${json%.json}.eml
	topic=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["topic"])' "$json")
	before=$(last_id)
	deliver -r info@icssi.example <"$eml" || { notok "filter $(basename "$eml")"; continue; }
	n=$((n + 1))
	ticket=$(sql "SELECT max(id) FROM tickets")
	got=$(sql "SELECT topic FROM tickets WHERE id = $ticket")/$(sql "SELECT group_concat(recipient, ' ') FROM (SELECT recipient FROM outbox WHERE id > $before AND kind = 'forward' AND ticket = $ticket ORDER BY recipient)")
	want="$topic/${coordinators[$topic]}"
	if [ "$got" != "$want" ]; then
		wrong=$((wrong + 1))
		echo "# $(basename "$eml"): got $got, want $want"
	fi
done
equal "corpus: $n questions, each one ticket with its labelled topic's coordinators" "$wrong" 0
equal "corpus: one ticket per question" "$(sql "SELECT count(*) FROM tickets")" "$n"
equal "corpus: each participant acknowledged with the ticket reference" \
	"$(sql "SELECT count(*) FROM outbox o JOIN tickets t ON t.id = o.ticket WHERE o.kind = 'reply' AND o.recipient = t.email")" "$n"

# The forward of an Arabic question: Reply-To the ticket address, the
# language in the subject, the header block, the original attached.
"$CONFMAIL" -c "$CONF" queue run --once >/dev/null
ar=$(sql "SELECT t.reference FROM tickets t WHERE t.language = 'ar' ORDER BY id LIMIT 1")
ar_lower=$(echo "$ar" | tr 'A-Z' 'a-z')
fwd=$(grep -l "tickets+$ar_lower\." "$TMP"/outbox/new/* | head -n 1)
python3 - "$fwd" "$ar" >"$TMP/fwd.txt" <<'END'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print("reply-to", m["Reply-To"])
print("subject", m["Subject"])
parts = list(m.iter_parts())
print("text", parts[0].get_content().replace("\n", "|"))
print("attached", parts[1].get_content_type() if len(parts) > 1 else "none")
END
check "forward: Reply-To the ticket's address" grep -qE "^reply-to tickets\+$ar_lower\.[0-9a-f]+@icssi.example\$" "$TMP/fwd.txt"
check "forward: the subject says the question is in Arabic" grep -q "^subject \[$ar\] Question in Arabic" "$TMP/fwd.txt"
check "forward: who asks, registration, language and topic" grep -q "from .*|  organisation .*|  registration  not registered|  language      Arabic|  topic" "$TMP/fwd.txt"
check "forward: the original attached as message/rfc822" grep -q '^attached message/rfc822$' "$TMP/fwd.txt"

# address_of REF tickets|comment: the address a forward of ticket REF
# gives for answers (its Reply-To) or for comments (named in its text),
# each with the MAC that proves the sender received the forward.
address_of() {
	sql "SELECT content FROM outbox WHERE kind = 'forward' AND ticket = (SELECT id FROM tickets WHERE reference = '$1') LIMIT 1" >"$TMP/f.eml"
	python3 - "$TMP/f.eml" "$2" <<'END'
import email, email.policy, re, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
if sys.argv[2] == "tickets":
    print(m["Reply-To"].addresses[0].addr_spec)
else:
    text = next(m.iter_parts()).get_content() if m.is_multipart() else m.get_content()
    print(re.search(r"comment\+[^ ),]+@[a-z.]+", text).group(0))
END
}

# A coordinator answers the English visa question, quoting the forward.
ref=$(sql "SELECT reference FROM tickets WHERE topic = 'visa' AND language = 'en' LIMIT 1")
ref_lower=$(echo "$ref" | tr 'A-Z' 'a-z')
T=$(address_of "$ref" tickets)
CMT=$(address_of "$ref" comment)
check "the ticket address carries a MAC ($T)" grep -qE "^tickets\+$ref_lower\.[0-9a-f]{20}@icssi.example\$" <<<"$T"
check "the comment address too ($CMT)" grep -qE "^comment\+$ref_lower\.[0-9a-f]{20}@icssi.example\$" <<<"$CMT"
asker=$(sql "SELECT email FROM tickets WHERE reference = '$ref'")
question_mid=$(sql "SELECT m.message_id FROM tickets t JOIN messages m ON m.id = t.message WHERE t.reference = '$ref'")
fwd_mid=$(sql "SELECT message_id FROM outbox WHERE kind = 'forward' AND ticket = (SELECT id FROM tickets WHERE reference = '$ref') LIMIT 1")
before=$(last_id)
msg visa@icssi.example "$T" "Re: [$ref] Question (visa)" "$fwd_mid" \
	"Yes: a visa is issued on arrival at Sulaymaniyah airport; bring 75 USD.

Best,
Sara

On Tue, 25 Jan 2022 at 09:00, ICSSI <register@icssi.example> wrote:
> A new question for the visa coordinators.
>
>   ticket        $ref (open)
> Reply to this message to answer: your reply goes to the participant from" |
	deliver -r "$T"
equal "answer: one message, to the participant only" "$(rows_since "$before")" "reply:$asker"
sql "SELECT content FROM outbox WHERE id > $before" >"$TMP/answer.eml"
python3 - "$TMP/answer.eml" >"$TMP/answer.txt" <<'END'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print("from", m["From"].addresses[0].addr_spec)
print("in-reply-to", m["In-Reply-To"])
print("subject", m["Subject"])
print("body", m.get_body().get_content().replace("\n", "|"))
END
check "answer: from the conference address" grep -q '^from register@icssi.example$' "$TMP/answer.txt"
check "answer: In-Reply-To the participant's question" grep -q "^in-reply-to <$question_mid>\$" "$TMP/answer.txt"
check "answer: the ticket in the subject" grep -q "^subject Re: .*\[$ref\]" "$TMP/answer.txt"
check "answer: the coordinator's words" grep -q 'visa is issued on arrival' "$TMP/answer.txt"
check "answer: without the quoted forward" sh -c "! grep -q -e 'Reply to this message' -e 'wrote:' -e '|>' '$TMP/answer.txt'"
equal "answer: the ticket is answered" "$(sql "SELECT status FROM tickets WHERE reference = '$ref'")" answered

# An Outlook-style answer (top-posted, a From:/Sent: block above the
# quoted forward) to the Arabic question.
before=$(last_id)
ar_asker=$(sql "SELECT email FROM tickets WHERE reference = '$ar'")
TA=$(address_of "$ar" tickets)
msg travel@icssi.example "$TA" "RE: [$ar] Question in Arabic (visa)" "" \
	"نعم، تصدر التأشيرة عند الوصول.

From: ICSSI <register@icssi.example>
Sent: Tuesday, January 25, 2022 9:00 AM
To: visa@icssi.example
Subject: [$ar] Question in Arabic (visa)

A new question for the visa coordinators.
Reply to this message to answer: your reply goes to the participant from" |
	deliver -r "$TA"
sql "SELECT content FROM outbox WHERE id > $before" >"$TMP/answer-ar.eml"
equal "Outlook answer: to the participant only" "$(rows_since "$before")" "reply:$ar_asker"
check "Outlook answer: the answer, without the From:/Sent: block and what follows" python3 -c '
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
t = m.get_body().get_content()
sys.exit(0 if "تصدر التأشيرة" in t and "Sent:" not in t and "Reply to this" not in t else 1)' "$TMP/answer-ar.eml"

# A stranger writing to the ticket address reaches nobody.
before=$(last_id)
msg someone@example.com "$T" "Re: [$ref] Question (visa)" "$fwd_mid" "Please send me the answer too." |
	deliver -r "$T"
equal "stranger to the ticket address: nothing sent to anyone" "$(rows_since "$before")" ""
equal "stranger to the ticket address: recorded as ignored" "$(sql "SELECT kind FROM ticket_events WHERE ticket = (SELECT id FROM tickets WHERE reference = '$ref') ORDER BY id DESC LIMIT 1")" ignored

# A forged coordinator's From with a guessed reference (no MAC, no thread
# of ours) reaches nobody either.
before=$(last_id)
msg visa@icssi.example "tickets+$ref_lower@icssi.example" "Re: [$ref] Question (visa)" "" "Please pay the visa fee to account 1234." |
	deliver -r "tickets+$ref_lower@icssi.example"
equal "forged coordinator, guessed address: nothing sent to anyone" "$(rows_since "$before")" ""
before=$(last_id)
msg visa@icssi.example info@icssi.example "Re: [$ref] Question (visa)" "" "Please pay the visa fee to account 1234." |
	deliver -r info@icssi.example
equal "forged coordinator, reference in the subject only: never relayed to the participant" "$(sql "SELECT count(*) FROM outbox WHERE id > $before AND recipient = '$asker'")" 0

# A coordinator's out-of-office is nobody's answer.
before=$(last_id)
msg visa@icssi.example "$T" "Automatic reply: [$ref] Question (visa)" "" "I am away until Monday." "Auto-Submitted: auto-replied" |
	deliver -r "$T"
equal "out-of-office to the ticket address: nothing relayed" "$(rows_since "$before")" ""

# #comment goes to the other coordinators of the topic, never the participant.
before=$(last_id)
msg visa@icssi.example "$T" "Re: [$ref] Question (visa)" "$fwd_mid" "#comment
Travel team: please check the fee with the airport." |
	deliver -r "$T"
equal "#comment: to the other coordinators of the topic only" "$(rows_since "$before")" "forward:travel@icssi.example"
before=$(last_id)
msg travel@icssi.example "$CMT" "Re: [$ref] Question (visa)" "" "Checked: it is 75 USD." |
	deliver -r "$CMT"
equal "comment+REF@: to the other coordinators only" "$(rows_since "$before")" "forward:visa@icssi.example"

# #assign passes the ticket on; the new coordinators get the question.
before=$(last_id)
msg visa@icssi.example "$T" "Re: [$ref]" "" "#assign accommodation
They also ask about a hotel." | deliver -r "$T"
equal "#assign accommodation: the question goes to its coordinator" "$(rows_since "$before")" "forward:hotel@icssi.example"
equal "#assign: the ticket's assignee" "$(sql "SELECT assignee FROM tickets WHERE reference = '$ref'")" accommodation
before=$(last_id)
msg visa@icssi.example "$T" "Re: [$ref]" "" "#assign nobody-knows" |
	deliver -r "$T"
equal "#assign to an unknown name: the author is told, nobody else" "$(rows_since "$before")" "forward:visa@icssi.example"
equal "#assign to an unknown name: the assignee is unchanged" "$(sql "SELECT assignee FROM tickets WHERE reference = '$ref'")" accommodation

# The participant writes again: it threads into the ticket, reopens it,
# and goes to the assigned coordinator.
before=$(last_id)
tickets_before=$(sql "SELECT count(*) FROM tickets")
msg "$asker" info@icssi.example "Re: [$ref] your question" "" "Thank you. Is there a fee for children?" |
	deliver -r info@icssi.example
equal "follow-up: to the assigned coordinator" "$(rows_since "$before")" "forward:hotel@icssi.example"
equal "follow-up: the ticket is open again" "$(sql "SELECT status FROM tickets WHERE reference = '$ref'")" open
equal "follow-up: no second ticket" "$(sql "SELECT count(*) FROM tickets")" "$tickets_before"

# Someone else citing the reference is not threaded into that ticket.
before_tickets=$(sql "SELECT count(*) FROM tickets")
msg other.person@example.org info@icssi.example "Re: [$ref] visa" "" "Do I also need a visa to attend the conference in Sulaymaniyah?" |
	deliver -r info@icssi.example
equal "another address citing [$ref]: not added to that ticket" \
	"$(sql "SELECT count(*) FROM ticket_events WHERE actor = 'other.person@example.org' AND ticket = (SELECT id FROM tickets WHERE reference = '$ref')")" 0
equal "another address citing [$ref]: a question of its own" "$(sql "SELECT count(*) FROM tickets")" $((before_tickets + 1))

# #close, by mail and at the terminal.
msg hotel@icssi.example "$T" "Re: [$ref]" "" "#close" | deliver -r "$T"
equal "#close: closed" "$(sql "SELECT status FROM tickets WHERE reference = '$ref'")" closed

# The terminal.
expect_rc 0 "tickets list --open" "$CONFMAIL" -c "$CONF" tickets list --open
check "tickets list --open: no closed ticket" sh -c "! grep -q '^$ref ' '$TMP/out'"
expect_rc 0 "tickets show: the ticket and what happened to it" "$CONFMAIL" -c "$CONF" tickets show "$ref_lower"
check "tickets show: answered, comment, assigned, follow-up, closed" sh -c "grep -q answered '$TMP/out' && grep -q comment '$TMP/out' && grep -q assigned '$TMP/out' && grep -q follow-up '$TMP/out' && grep -q closed '$TMP/out'"
expect_rc 0 "tickets assign REF visa" "$CONFMAIL" -c "$CONF" tickets assign "$ar" visa
expect_rc 64 "tickets assign to an unknown name" "$CONFMAIL" -c "$CONF" tickets assign "$ar" nobody-knows
expect_rc 66 "tickets show: no such ticket" "$CONFMAIL" -c "$CONF" tickets show ICSSI22-Q-9999
expect_rc 0 "tickets close REF" "$CONFMAIL" -c "$CONF" tickets close "$ar"

# Reminders: after remind_after (48 h) for the open tickets, once a day.
open=$(sql "SELECT count(*) FROM tickets WHERE status = 'open'")
CONFMAIL_NOW=2022-01-27T08:00:00Z "$CONFMAIL" -c "$CONF" tickets remind >"$TMP/r1"
check "remind at 47 h: nobody yet" grep -q '^reminded the coordinators of 0 tickets' "$TMP/r1"
before=$(last_id)
CONFMAIL_NOW=2022-01-27T10:00:00Z "$CONFMAIL" -c "$CONF" tickets remind >"$TMP/r2"
check "remind at 49 h: each open ticket ($open)" grep -q "^reminded the coordinators of $open ticket" "$TMP/r2"
equal "remind: the reminders go to coordinators" "$(sql "SELECT count(*) FROM outbox WHERE id > $before AND kind = 'forward'") $(sql "SELECT count(*) FROM outbox WHERE id > $before AND kind <> 'forward'")" "$(sql "SELECT count(*) FROM outbox WHERE id > $before") 0"
CONFMAIL_NOW=2022-01-27T20:00:00Z "$CONFMAIL" -c "$CONF" tickets remind >"$TMP/r3"
check "remind again the same day: none" grep -q '^reminded the coordinators of 0 tickets' "$TMP/r3"
CONFMAIL_NOW=2022-01-28T10:30:00Z "$CONFMAIL" -c "$CONF" tickets remind >"$TMP/r4"
check "remind a day later: again" grep -q "^reminded the coordinators of $open ticket" "$TMP/r4"

# confmail check reports a routing name the configuration does not know.
mkdir -p "$TMP/rules"
cp "$ROOT"/filters/* "$TMP/rules/"
echo "funding  treasurer" >"$TMP/rules/routing.rules"
CONFMAIL_RULES=$TMP/rules "$CONFMAIL" -c "$CONF" check >"$TMP/out" 2>&1
check "check: a routing name not in [coordinators] is noted with file:line" grep -q "routing.rules:1: 'treasurer' is not in \[coordinators\]" "$TMP/out"
echo "funding" >"$TMP/rules/routing.rules"
expect_rc 78 "check: a topic without coordinators is an error" env CONFMAIL_RULES="$TMP/rules" "$CONFMAIL" -c "$CONF" check
finish
