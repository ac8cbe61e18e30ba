# The announcement list (issue 7), end to end with the maildir transport:
# a 500-member list in three languages gets an announcement with a PDF,
# each member once, in their language, with the list headers, the file
# stored once; posts to announce@ are held until an organiser approves
# from their own mailbox (a stranger's post, a forged From and a stolen
# token never reach the list); subscribing and leaving by mail; bounces
# disable a member only past the threshold; a later registrant gets the
# programme; anyone asking for "programme" gets it.
source "$(dirname "$0")/lib.sh"
CORPUS=${CORPUS:-$ROOT/../shared/corpus}
export CONFMAIL_NOW=2022-01-25T09:00:00Z
CONF=$(conf_with transport maildir "$TMP/outbox")
"$CONFMAIL" -c "$CONF" init >/dev/null
deliver() { "$CONFMAIL" -c "$CONF" filter "$@"; }
last_id() { sql "SELECT coalesce(max(id), 0) FROM outbox"; }
announced() { sql "SELECT count(*) FROM outbox WHERE kind = 'announce' AND id > $1"; }
# msg FROM SUBJECT BODY [HEADER]: a small message on stdout
msg() {
	printf 'From: %s\nTo: list\nSubject: %s\nMessage-ID: <%s.%s@example.net>\nDate: Tue, 25 Jan 2022 12:00:00 +0300\n%s\n%s\n' \
		"$1" "$2" "$RANDOM$RANDOM" "$RANDOM" "${4:+$4
}" "$3"
}
if [ ! -d "$CORPUS" ]; then
	skip "no corpus at $CORPUS"
	finish
fi

# Three registrations (Arabic, English, Kurdish) join the list by
# registering; 497 more members come from an organiser's list, a third in
# each language.
for f in reg-ar-001 reg-en-001 reg-ckb-001; do deliver -r register@icssi.example <"$CORPUS/$f.eml"; done
equal "registering subscribes: 3 members" "$(sql "SELECT count(*) FROM subscribers WHERE source = 'registration' AND status = 'active'")" 3
python3 - "$CONFMAIL_DATABASE" <<'END'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
langs = ["en", "ar", "ckb"]
for i in range(497):
    db.execute("INSERT INTO subscribers (address, name, language, status, source, created_at, updated_at)"
               " VALUES (?, ?, ?, 'active', 'organiser', '2022-01-20T09:00:00Z', '2022-01-20T09:00:00Z')",
               (f"member{i}@partners.example", f"Member {i}", langs[i % 3]))
db.commit()
END
expect_rc 0 "list members" "$CONFMAIL" -c "$CONF" list members
equal "list members: 500" "$(wc -l <"$TMP/out")" 500

# The programme, in three languages, with a 2 MB PDF.
printf 'Dear {{name}},\n\nThe final programme is attached.{{#if reference}} Your reference is {{reference}}.{{/if}}\nEN-MARK\n' >"$TMP/en.txt"
printf 'عزيزنا {{name}}،\n\nالبرنامج النهائي مرفق.\nAR-MARK\n' >"$TMP/ar.txt"
printf 'بەڕێز {{name}}،\n\nبەرنامەی کۆتایی هاوپێچە.\nCKB-MARK\n' >"$TMP/ckb.txt"
python3 -c 'import random,sys; open(sys.argv[1],"wb").write(b"%PDF-1.4\n" + random.Random(3).randbytes(2*1024*1024))' "$TMP/programme.pdf"
sql "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
size_before=$(stat -c %s "$CONFMAIL_DATABASE")
before=$(last_id)
expect_rc 0 "announce: the programme to everyone" "$CONFMAIL" -c "$CONF" announce --subject "The final programme" \
	--body "$TMP/en.txt" --body-ar "$TMP/ar.txt" --body-ckb "$TMP/ckb.txt" --attach "$TMP/programme.pdf" --document programme
check "announce: ... queued for 500" grep -q 'queued for 500 recipients' "$TMP/out"
sql "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
grown=$(( $(stat -c %s "$CONFMAIL_DATABASE") - size_before ))
check "announce: the database grew by less than 2x the PDF ($grown bytes)" test "$grown" -lt $((2 * $(stat -c %s "$TMP/programme.pdf")))
equal "announce: one copy per member" "$(sql "SELECT count(*), count(DISTINCT recipient) FROM outbox WHERE kind = 'announce' AND id > $before")" "500|500"
"$CONFMAIL" -c "$CONF" queue run --once >/dev/null
got=$(python3 - "$TMP/outbox/new" "$CONFMAIL_DATABASE" "$TMP/programme.pdf" <<'END'
import email, email.policy, os, sqlite3, sys
db = sqlite3.connect(sys.argv[2])
lang = {a: l for a, l in db.execute("SELECT address, coalesce(language, 'en') FROM subscribers")}
pdf = open(sys.argv[3], "rb").read()
mark = {"en": "EN-MARK", "ar": "AR-MARK", "ckb": "CKB-MARK"}
n = right_lang = headers = files = verp = 0
for name in os.listdir(sys.argv[1]):
    m = email.message_from_binary_file(open(os.path.join(sys.argv[1], name), "rb"), policy=email.policy.default)
    if m["List-Id"] is None:
        continue
    n += 1
    to = m["To"].addresses[0].addr_spec
    text = m.get_body(("plain",)).get_content()
    right_lang += mark[lang[to]] in text and m["Content-Language"] == lang[to]
    headers += all(m[h] for h in ("List-Id", "List-Unsubscribe", "List-Help", "List-Owner")) and m["Precedence"] == "list"
    files += any(p.get_filename() == "programme.pdf" and p.get_content() == pdf for p in m.iter_attachments())
print(n, right_lang, headers, files)
END
)
equal "announce: 500 delivered, each in its member's language, with the list headers and the PDF intact" "$got" "500 500 500 500"
equal "announce: VERP senders" "$(sql "SELECT count(*) FROM outbox WHERE kind = 'announce' AND envelope_from = 'bounces+' || id || '@icssi.example'")" 500
ref=$(sql "SELECT reference FROM registrations WHERE language = 'en' LIMIT 1")
check "announce: personalised from the registration ($ref)" grep -rlq "Your reference is $ref" "$TMP/outbox/new"

# A participant who registers afterwards gets the programme.
before=$(last_id)
deliver -r register@icssi.example <"$CORPUS/reg-en-002.eml"
new=$(sql "SELECT email FROM registrations ORDER BY id DESC LIMIT 1")
equal "a later registrant gets the current programme" "$(sql "SELECT count(*) FROM outbox WHERE id > $before AND kind = 'announce' AND recipient = '$new' AND announcement = 1")" 1

# Anyone asking for the programme gets it.
before=$(last_id)
msg someone@ngo.example "programme" "" | deliver -r info@icssi.example
equal "\"programme\" gets the programme" "$(sql "SELECT count(*) FROM outbox WHERE id > $before AND kind = 'announce' AND recipient = 'someone@ngo.example'")" 1
before=$(last_id)
msg someone@ngo.example "سؤال" "البرنامج" | deliver -r info@icssi.example
equal "\"البرنامج\" too" "$(sql "SELECT count(*) FROM outbox WHERE id > $before AND kind = 'announce'")" 1

# A post from someone who is not an organiser: held, never sent; the
# organisers are asked; the sender is told, politely.
before=$(last_id)
msg partner@example.org "Our side event" "Please come to our side event." | deliver -r announce@icssi.example
equal "a stranger's post: nothing to the list" "$(announced "$before")" 0
equal "a stranger's post: each organiser asked to approve" "$(sql "SELECT group_concat(recipient, ' ') FROM (SELECT recipient FROM outbox WHERE id > $before AND template = 'approve' ORDER BY recipient)")" "coordination@icssi.example organisers@icssi.example"
equal "a stranger's post: its sender told it is held" "$(sql "SELECT template FROM outbox WHERE id > $before AND recipient = 'partner@example.org'")" post-held

# A forged From: held the same way; the approval goes to the real
# mailboxes; a stolen token used from another address changes nothing.
before=$(last_id)
msg organisers@icssi.example "Change of venue" "The conference moves to another city." | deliver -r announce@icssi.example
equal "a forged organiser's post: nothing to the list" "$(announced "$before")" 0
token=$(sql "SELECT content FROM outbox WHERE id > $before AND template = 'approve' AND recipient = 'organisers@icssi.example'" | sed -n 's/^Reply-To: .*confirm+\([^@]*\)@.*/\1/p' | head -n 1)
check "the approval request carries a token" test -n "$token"
before=$(last_id)
msg attacker@example.net "Re: Approve?" "" | deliver -r "confirm+$token@icssi.example"
equal "a stolen approval token from another address: nothing to the list" "$(announced "$before")" 0

# The organiser approves the partner's post from their own mailbox.
held=$(sql "SELECT id FROM announcements WHERE author = 'partner@example.org'")
token=$(sql "SELECT content FROM outbox WHERE template = 'approve' AND announcement = $held AND recipient = 'coordination@icssi.example'" | sed -n 's/^Reply-To: .*confirm+\([^@]*\)@.*/\1/p' | head -n 1)
before=$(last_id)
msg coordination@icssi.example "Re: Approve?" "" | deliver -r "confirm+$token@icssi.example"
check "approved from the organiser's mailbox: sent to the list ($(announced "$before"))" test "$(announced "$before")" -ge 500
equal "approved: recorded" "$(sql "SELECT status || ' ' || approved_by FROM announcements WHERE id = $held")" "sent coordination@icssi.example"
before=$(last_id)
msg coordination@icssi.example "Re: Approve?" "" | deliver -r "confirm+$token@icssi.example"
equal "approving twice sends nothing more" "$(announced "$before")" 0

# Subscribing by mail: a confirmation first, then the member is active.
before=$(last_id)
msg newcomer@example.org "subscribe" "subscribe" | deliver -r announce-request@icssi.example
equal "subscribe: a confirmation request, not yet a member" "$(sql "SELECT template FROM outbox WHERE id > $before") $(sql "SELECT count(*) FROM subscribers WHERE address = 'newcomer@example.org'")" "subscribe-confirm 0"
token=$(sql "SELECT content FROM outbox WHERE id > $before" | grep -o 'confirm+[^@]*@' | head -n 1 | sed 's/^confirm+//; s/@$//')
msg newcomer@example.org "Re: Please confirm" "" | deliver -r "confirm+$token@icssi.example"
equal "subscribe confirmed: active" "$(sql "SELECT status FROM subscribers WHERE address = 'newcomer@example.org'")" active

# Leaving: the List-Unsubscribe address of an announcement, from the
# member's own address, is enough; without it a confirmation is asked.
member=member7@partners.example
lu=$(sql "SELECT content FROM outbox WHERE kind = 'announce' AND recipient = '$member' LIMIT 1" | sed -n 's/^ <mailto:\(confirm+[^?]*\)?.*/\1/p' | head -n 1)
check "the List-Unsubscribe address is a confirm+TOKEN@ address" grep -q '^confirm+unsubscribe-' <<<"$lu"
msg someone.else@example.org "unsubscribe" "" | deliver -r "$lu"
equal "List-Unsubscribe from another address: still a member" "$(sql "SELECT status FROM subscribers WHERE address = '$member'")" active
msg "$member" "unsubscribe" "" | deliver -r "$lu"
equal "List-Unsubscribe from the member: gone at once" "$(sql "SELECT status FROM subscribers WHERE address = '$member'")" unsubscribed
before=$(last_id)
msg member8@partners.example "unsubscribe" "Please unsubscribe me." | deliver -r announce-request@icssi.example
equal "unsubscribe by mail without a token: a confirmation is asked first" "$(sql "SELECT template FROM outbox WHERE id > $before") $(sql "SELECT status FROM subscribers WHERE address = 'member8@partners.example'")" "unsubscribe-confirm active"
expect_rc 0 "list remove" "$CONFMAIL" -c "$CONF" list remove member9@partners.example
expect_rc 66 "list remove: not a member" "$CONFMAIL" -c "$CONF" list remove nobody@example.org
expect_rc 65 "list add: not an address" "$CONFMAIL" -c "$CONF" list add "not an address"

# Bounces to bounces+ID@: a permanent one a day adds 1, and only the
# fifth day disables the member; a delay notice counts nothing.
member=member10@partners.example
row=$(sql "SELECT id FROM outbox WHERE kind = 'announce' AND recipient = '$member' LIMIT 1")
# bounce FILE NOW: a corpus bounce, with a Message-ID of its own (a copy
# of the same report is a duplicate and counts once)
bounce() {
	sed "s/^Message-I[Dd]:.*/Message-ID: <b$RANDOM$RANDOM@mx.example>/" "$CORPUS/$1.eml" |
		CONFMAIL_NOW=$2 deliver -r "bounces+$row@icssi.example" -f ''
}
for day in 1 2 3 4; do
	bounce bounce-001 "2022-01-2${day}T10:00:00Z"
	bounce bounce-004 "2022-01-2${day}T11:00:00Z"
done
equal "4 days of permanent bounces (two a day): score 4, still a member" "$(sql "SELECT bounce_score || ' ' || status FROM subscribers WHERE address = '$member'")" "4.0 active"
bounce bounce-005 2022-01-25T10:00:00Z
equal "a delay notice: no change" "$(sql "SELECT bounce_score || ' ' || status FROM subscribers WHERE address = '$member'")" "4.0 active"
bounce bounce-002 2022-01-25T12:00:00Z
equal "the fifth day: past the threshold, disabled" "$(sql "SELECT status FROM subscribers WHERE address = '$member'")" disabled
before=$(last_id)
expect_rc 0 "announce to the list again" "$CONFMAIL" -c "$CONF" announce --subject "Logistics" --body "$TMP/en.txt" --to list --document guide
equal "a disabled member gets nothing" "$(sql "SELECT count(*) FROM outbox WHERE id > $before AND recipient = '$member'")" 0
equal "an unsubscribed member gets nothing" "$(sql "SELECT count(*) FROM outbox WHERE id > $before AND recipient = 'member7@partners.example'")" 0
"$CONFMAIL" -c "$CONF" stats --json >"$TMP/stats.json"
equal "stats: subscribers" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["subscribers"]["total"] - d["subscribers"]["active"])' "$TMP/stats.json")" 3
finish
