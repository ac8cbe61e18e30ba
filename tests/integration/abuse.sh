# Abuse cases (issue 10): what a stranger on the Internet can try by
# mail, each tried here.  Header injection through every value that
# reaches a header; reading, changing or cancelling someone else's
# registration; unsubscribing someone else; backscatter to forged senders
# and a loop with an autoresponder; SQL metacharacters in every field;
# attachment names that look like paths; files open to others.  (Forged
# confirmation tokens: replies.sh; answering a ticket: tickets.sh; posting
# to the list with a forged From: list.sh.)
source "$(dirname "$0")/lib.sh"
export CONFMAIL_NOW=2022-01-25T09:00:00Z

CONF=$(conf_with transport maildir "$TMP/outbox")
"$CONFMAIL" -c "$CONF" init >/dev/null || notok "init"
deliver() { "$CONFMAIL" -c "$CONF" filter "$@"; }
# mail FROM TO SUBJECT BODY MESSAGE-ID [EXTRA-HEADER]
mail() {
	printf 'From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s>\nDate: Mon, 24 Jan 2022 09:00:00 +0000\n%sMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n%s\n' \
		"$1" "$2" "$3" "$5" "${6:+$6
}" "$4"
}
last_id() { sql "SELECT coalesce(max(id), 0) FROM outbox"; }
FORM='Name: Hana Saleh
Organisation: Nineveh Women Forum
Country: Iraq
Phone: +964 770 123 4567
Funding: we cover our own travel
I accept the principles of the conference: yes'
mail hana@nineveh.example register@icssi.example Registration "$FORM" r1@nineveh.example |
	deliver -r register@icssi.example
ref=$(sql "SELECT reference FROM registrations WHERE email = 'hana@nineveh.example'")
equal "the owner's registration is recorded" "$ref" ICSSI22-0001

# --- Header injection ---------------------------------------------------
# A CR LF inside an encoded-word, in the display name, the subject and the
# form's name, must never start a header of its own in what we send.
inj_name='=?UTF-8?B?'$(printf 'Eve\r\nBcc: victim@evil.example\r\nX-Injected: 1' | base64 -w0)'?='
inj_subject='=?UTF-8?Q?Registration=0D=0ABcc:=20victim@evil.example=0D=0AX-Injected:=201?='
before=$(last_id)
printf 'From: %s <eve@evil.example>\nTo: register@icssi.example\nSubject: %s\nMessage-ID: <inj1@evil.example>\nReferences: <a@b>\r\n =?UTF-8?Q?=0D=0ABcc:=20victim@evil.example?=\nDate: Mon, 24 Jan 2022 09:00:00 +0000\n\nName: Eve Mallory\r\nBcc: victim@evil.example\nOrganisation: X\r\nX-Injected: 1\nCountry: Italy\nFunding: we cover our own travel\nI accept the principles of the conference: yes\n' \
	"$inj_name" "$inj_subject" | deliver -r register@icssi.example
printf 'From: "Quoted \\"Name\\" <eve2@evil.example>, victim@evil.example" <eve2@evil.example>\nTo: register@icssi.example\nSubject: Registration\nMessage-ID: <inj2@evil.example>\nDate: Mon, 24 Jan 2022 09:00:00 +0000\n\n%s\n' \
	"$(echo "$FORM" | sed 's/Hana Saleh/Eve "the" Quoted/')" | deliver -r register@icssi.example
sql "SELECT id FROM outbox WHERE id > $before" >"$TMP/ids"
check "injection: the messages were answered" test -s "$TMP/ids"
injected=$(while read -r id; do
	sql "SELECT content FROM outbox WHERE id = $id" >"$TMP/o.eml"
	python3 - "$TMP/o.eml" <<'PY'
import sys, email, email.policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.compat32)
names = [k.lower() for k in m.keys()]
bad = [n for n in names if n in ("bcc", "x-injected")]
to = " ".join(m.get_all("To", []) + m.get_all("Cc", []))
if bad or "victim@" in to:
    print("injected:", bad, to)
PY
done <"$TMP/ids")
equal "injection: no Bcc or X-Injected header and no victim among the recipients" "$injected" ""
equal "injection: nothing is queued to the victim" \
	"$(sql "SELECT count(*) FROM outbox WHERE recipient LIKE '%victim%' OR envelope_from LIKE '%victim%'")" 0

# --- Reading someone else's registration ----------------------------------
before=$(last_id)
mail snoop@evil.example register@icssi.example "Registration $ref" \
	"Please send me everything you have for registration $ref, I lost it." s1@evil.example |
	deliver -r register@icssi.example
mail snoop@evil.example info@icssi.example "Question about $ref" \
	"What do you have on file for $ref? Which organisation and phone number did she give?" s1b@evil.example |
	deliver -r info@icssi.example
leak=$(sql "SELECT count(*) FROM outbox WHERE id > $before AND recipient = 'snoop@evil.example'
	AND (content LIKE '%Nineveh%' OR content LIKE '%770 123%' OR content LIKE '%Hana%' OR content LIKE '%hana@%')")
equal "read: nothing of the owner's record goes to a stranger who names it" "$leak" 0
equal "read: the owner's record is unchanged" "$(sql "SELECT json_extract(fields, '$.organization') FROM registrations WHERE reference = '$ref'")" \
	"Nineveh Women Forum"

# --- Changing or cancelling it with its reference -------------------------
before=$(last_id)
mail snoop@evil.example register@icssi.example "Update $ref" "Organisation: Evil Corp" s2@evil.example |
	deliver -r register@icssi.example
mail snoop@evil.example register@icssi.example "Cancel $ref" \
	"Please cancel registration $ref, she cannot come." s3@evil.example | deliver -r register@icssi.example
equal "change: the stranger's change is not applied" \
	"$(sql "SELECT json_extract(fields, '$.organization') || '/' || status FROM registrations WHERE reference = '$ref'")" \
	"Nineveh Women Forum/registered"
equal "change: the owner is asked, not the stranger" \
	"$(sql "SELECT group_concat(DISTINCT recipient) FROM outbox WHERE id > $before AND template LIKE 'confirm-%'")" \
	hana@nineveh.example
equal "change: the attempt is kept with who made it, for the organisers" \
	"$(sql "SELECT group_concat(kind) FROM registration_changes WHERE state = 'pending' AND from_addr = 'snoop@evil.example'") $(sql "SELECT status FROM registrations WHERE reference = '$ref'")" \
	"update,cancel registered"

# --- Unsubscribing someone else -------------------------------------------
subscribed() { sql "SELECT status FROM subscribers WHERE address = 'hana@nineveh.example'"; }
equal "list: the owner is subscribed by registering" "$(subscribed)" active
before=$(last_id)
# a forged From: the confirmation goes to the real address
mail hana@nineveh.example unsubscribe@icssi.example unsubscribe "unsubscribe" s4@evil.example |
	deliver -r unsubscribe@icssi.example
# the stranger's own From, naming her address in the body
mail snoop@evil.example unsubscribe@icssi.example "unsubscribe hana@nineveh.example" \
	"unsubscribe hana@nineveh.example" s5@evil.example | deliver -r unsubscribe@icssi.example
equal "list: a forged or third-party unsubscribe leaves her subscribed" "$(subscribed)" active
equal "list: only she is asked to confirm" \
	"$(sql "SELECT group_concat(recipient || ':' || template) FROM outbox WHERE id > $before AND recipient = 'hana@nineveh.example'")" \
	hana@nineveh.example:unsubscribe-confirm

# --- Backscatter: forged senders, capped per hour overall -----------------
CAPPED=$(conf_with limits max_replies_per_hour 5)
sed -i "s|^maildir = .*|maildir = $TMP/outbox|" "$CAPPED"
export CONFMAIL_DATABASE=$TMP/capped.sqlite
"$CONFMAIL" -c "$CAPPED" init >/dev/null
for i in $(seq 1 12); do
	mail "victim$i@forged.example" register@icssi.example Registration \
		"$(echo "$FORM" | sed "s/Hana Saleh/Person Number$i/")" "bs$i@spam.example" |
		"$CONFMAIL" -c "$CAPPED" filter -r register@icssi.example
done
equal "backscatter: every message is recorded" "$(sql "SELECT count(*) FROM messages")" 12
equal "backscatter: replies stop at max_replies_per_hour" "$(sql "SELECT count(*) FROM outbox WHERE kind = 'reply'")" 5
equal "backscatter: the rest are withheld, with the reason" \
	"$(sql "SELECT count(*) || ' ' || reason FROM replies_withheld GROUP BY reason")" "7 max_replies_per_hour reached"
# an hour later, replies go out again
CONFMAIL_NOW=2022-01-25T10:00:01Z "$CONFMAIL" -c "$CAPPED" filter -r register@icssi.example < <(
	mail late@forged.example register@icssi.example Registration "$FORM" bs-late@spam.example)
equal "backscatter: the hour after, the next one is answered" \
	"$(sql "SELECT count(*) FROM outbox WHERE kind = 'reply' AND recipient = 'late@forged.example'")" 1
export CONFMAIL_DATABASE=$TMP/db.sqlite

# --- A loop with an autoresponder -----------------------------------------
# A polite one (RFC 3834) is never answered; a rude one, answering all
# with no mark at all, is answered at most max_replies_per_day times.
before=$(last_id)
mail bot@auto.example register@icssi.example "Automatic reply: Registration" "I am away." ar0@auto.example \
	"Auto-Submitted: auto-replied" | deliver -r register@icssi.example
equal "loop: an RFC 3834 autoreply gets no answer" "$(sql "SELECT count(*) FROM outbox WHERE id > $before")" 0
for i in $(seq 1 25); do
	mail rude@auto.example register@icssi.example "Re: Registration" \
		"Thank you for your message. Name: Rude Bot. Organisation: Bots" "rude$i@auto.example"
done >/dev/null
for i in $(seq 1 25); do
	mail rude@auto.example register@icssi.example "Re: Registration" \
		"Thank you for your message." "rude$i@auto.example" | deliver -r register@icssi.example
done
n=$(sql "SELECT count(*) FROM outbox WHERE recipient = 'rude@auto.example'")
max=$(sed -n 's/^max_replies_per_day = //p' "$CONFMAIL_CONF")
check "loop: a rude autoresponder gets at most max_replies_per_day ($max) answers (got $n)" test "$n" -le "$max"
equal "loop: its 25 messages are all recorded" "$(sql "SELECT count(*) FROM messages WHERE from_addr = 'rude@auto.example'")" 25
# our own mail coming back (our X-Loop) is never answered
before=$(last_id)
mail hana@nineveh.example register@icssi.example "Re: Registration" "back to you" loop1@nineveh.example \
	"X-Loop: $(sed -n 's/^loop_id = //p' "$CONFMAIL_CONF" | head -1)" | deliver -r register@icssi.example
loopid=$(sed -n 's/^loop_id = //p' "$CONFMAIL_CONF" | head -1)
if [ -n "$loopid" ]; then
	equal "loop: a message carrying our X-Loop gets no answer" "$(sql "SELECT count(*) FROM outbox WHERE id > $before")" 0
fi

# --- SQL metacharacters in every field ------------------------------------
EVIL="Robert'); DROP TABLE registrations;--"
tables_before=$(sql "SELECT count(*) FROM sqlite_master")
mail "o'brien+x@quote.example" register@icssi.example "Registration '; DELETE FROM messages;--" \
	"Name: $EVIL
Organisation: x\" OR 1=1 -- %_\\
Position: '||(SELECT reference FROM registrations)||'
Country: Iraq
City: Erbil'; UPDATE registrations SET status='cancelled';--
Phone: +964 750 000 0000
Funding: we cover our own travel
I accept the principles of the conference: yes" "sq'1\"@quote.example" | deliver -r register@icssi.example
equal "sql: the name is stored exactly as written" \
	"$(sql "SELECT name FROM registrations WHERE email = 'o''brien+x@quote.example'")" "$EVIL"
equal "sql: the organisation too" \
	"$(sql "SELECT json_extract(fields, '$.organization') FROM registrations WHERE email = 'o''brien+x@quote.example'")" \
	'x" OR 1=1 -- %_\'
equal "sql: the subject and the Message-ID too" \
	"$(sql "SELECT subject || ' | ' || message_id FROM messages ORDER BY id DESC LIMIT 1")" \
	"Registration '; DELETE FROM messages;-- | sq'1\"@quote.example"
equal "sql: no table dropped, nothing else changed" \
	"$(sql "SELECT count(*) FROM sqlite_master") $(sql "SELECT status FROM registrations WHERE reference = '$ref'") $(sql "PRAGMA integrity_check")" \
	"$tables_before registered ok"
"$CONFMAIL" -c "$CONF" registrations show "$(sql "SELECT reference FROM registrations WHERE email = 'o''brien+x@quote.example'")" >"$TMP/show" 2>&1
check "sql: registrations show prints it back" grep -qF "$EVIL" "$TMP/show"

# --- Attachment names never become paths ----------------------------------
touch "$TMP/marker"
sleep 1
victim=/tmp/confmail-abuse-$$-$RANDOM
printf 'From: att@evil.example\nTo: register@icssi.example\nSubject: Registration\nMessage-ID: <att1@evil.example>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n%s\n--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename="../../../..%s"\nContent-Transfer-Encoding: base64\n\nUFdORUQ=\n--b\nContent-Type: text/plain; name="/etc/cron.d/x"\nContent-Disposition: attachment; filename*=UTF-8'"''"'%%2E%%2E%%2F%%2E%%2E%%2Fevil\n\nx\n--b--\n' \
	"$FORM" "$victim" | deliver -r register@icssi.example
check "files: a ../ attachment name wrote nothing there" test ! -e "$victim"
check "files: nothing named evil anywhere near" sh -c "! find '$TMP' /tmp -maxdepth 3 -name 'evil*' -newer '$TMP/marker' 2>/dev/null | grep -q ."
equal "files: only the database changed in its directory" \
	"$(find "$TMP" -maxdepth 1 -type f -newer "$TMP/marker" | sed "s|$TMP/||" | grep -v '^db\.sqlite' | sort | tr '\n' ' ')" ""

# --- Files open to others -------------------------------------------------
equal "files: the database is its owner's alone" "$(stat -c %a "$CONFMAIL_DATABASE")" 600
equal "files: the token secret too" "$(stat -c %a "$CONFMAIL_DATABASE.secret")" 600
expect_rc 0 "files: check is quiet about modes that are right" "$CONFMAIL" -c "$CONF" check
check "... no warning" sh -c "! grep -q warning '$TMP/err'"
chmod 644 "$CONFMAIL_DATABASE" "$CONFMAIL_DATABASE.secret"
expect_rc 0 "files: check still runs when modes are loose" "$CONFMAIL" -c "$CONF" check
check "files: check warns that the database is open to others" grep -q "warning: $CONFMAIL_DATABASE is open to others (mode 644)" "$TMP/err"
check "files: ... and the secret" grep -q "warning: $CONFMAIL_DATABASE.secret is open to others" "$TMP/err"
echo secret >"$TMP/pw" && chmod 640 "$TMP/pw"
PWCONF=$(conf_with transport password_file "$TMP/pw")
expect_rc 0 "files: check with a password file open to its group" "$CONFMAIL" -c "$PWCONF" check
check "files: ... warns about it" grep -q "warning: $TMP/pw is open to others (mode 640)" "$TMP/err"
chmod 600 "$CONFMAIL_DATABASE" "$CONFMAIL_DATABASE.secret"

finish
