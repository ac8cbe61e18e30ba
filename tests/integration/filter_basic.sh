# confmail filter end to end: every sample message is recorded once, with
# its envelope, decoded headers and exact bytes; exit codes are the MTA's.
source "$(dirname "$0")/lib.sh"

expect_rc 0 "init creates the database" "$CONFMAIL" init
equal "schema is at the latest version" "$(sql 'PRAGMA user_version')" 10
equal "database is in WAL mode" "$(sql 'PRAGMA journal_mode')" wal
equal "database is readable by its owner only" "$(stat -c %a "$CONFMAIL_DATABASE")" 600

n=0
for f in "$DATA"/*.eml; do
	"$CONFMAIL" filter <"$f" || notok "filter $(basename "$f") exited $?"
	n=$((n + 1))
done
equal "every sample stored" "$(sql 'SELECT count(*) FROM messages')" "$n"
# filter ends right after its commit, leaving the database open to the
# kernel (cmd_filter.c): what it leaves is whole, and the next one reads it
equal "the database is whole after deliveries that end without closing it" \
	"$(sql 'PRAGMA integrity_check')" ok

# Redelivery after an MTA timeout: same bytes, same Message-ID.
for f in "$DATA"/*.eml; do "$CONFMAIL" filter <"$f"; done
equal "redelivered samples are not stored twice" "$(sql 'SELECT count(*) FROM messages')" "$n"
equal "every delivery is counted" "$(sql 'SELECT count(*) FROM arrivals')" "$((2 * n))"
equal "deliveries recorded on the row" \
	"$(sql "SELECT deliveries FROM messages WHERE message_id = 'q-visa-777@solidarity-bern.example'")" 2

# Same Message-ID through another relay (other Received lines): still one.
{ echo "Received: from relay2.example by mx.icssi.example; Mon, 24 Jan 2022 12:13:00 +0300"
  cat "$DATA/question-en.eml"; } | "$CONFMAIL" filter
equal "same Message-ID with other headers is a duplicate" "$(sql 'SELECT count(*) FROM messages')" "$n"

# Without a Message-ID the bytes decide.
equal "message without Message-ID keyed by sha256" \
	"$(sql "SELECT substr(dedup_key, 1, 7) FROM messages WHERE message_id IS NULL")" "sha256:"
sed 's/Peter Brand/Petra Brand/' "$DATA/no-message-id.eml" | "$CONFMAIL" filter
equal "different bytes without Message-ID are two messages" \
	"$(sql 'SELECT count(*) FROM messages WHERE message_id IS NULL')" 2
{ echo "Received: from relay2.example by mx.icssi.example; Mon, 24 Jan 2022 12:13:00 +0300"
  cat "$DATA/no-message-id.eml"; } | "$CONFMAIL" filter
equal "... but the same bytes through another relay (a new Received line) are one" \
	"$(sql 'SELECT count(*) FROM messages WHERE message_id IS NULL')" 2

# The raw bytes come back exactly (the mbox From line is envelope, not message).
id=$(sql "SELECT id FROM messages WHERE message_id = 'ckb-reg-42@rojava-kids.example'")
"$CONFMAIL" messages raw "$id" >"$TMP/raw.eml"
check "raw message kept byte for byte" cmp -s "$TMP/raw.eml" "$DATA/reg-ckb-qp.eml"
equal "sha256 of the stored bytes" \
	"$(sql "SELECT sha256 FROM messages WHERE id = $id")" "$(sha256sum <"$DATA/reg-ckb-qp.eml" | cut -d' ' -f1)"
id=$(sql "SELECT id FROM messages WHERE message_id = '20220124091238.5521@tigris-voices.example'")
"$CONFMAIL" messages raw "$id" >"$TMP/raw.eml"
check "mbox From line removed, the rest kept" cmp -s "$TMP/raw.eml" <(tail -n +2 "$DATA/reg-en-form.eml")
equal "envelope sender from the mbox From line" \
	"$(sql "SELECT envelope_sender FROM messages WHERE id = $id")" "amal.rashid@tigris-voices.example"

# Decoded headers: RFC 2047 subjects and names in UTF-8.
equal "RFC 2047 subject decoded" \
	"$(sql "SELECT subject FROM messages WHERE message_id = 'CAF1x-sozan-0001@mail.example'")" "تسجيل في المؤتمر"
equal "RFC 2047 display name decoded" \
	"$(sql "SELECT from_name FROM messages WHERE message_id = 'CAF1x-sozan-0001@mail.example'")" "سوزان أحمد"
check "headers stored as decoded JSON" \
	sh -c "sqlite3 '$CONFMAIL_DATABASE' \"SELECT headers FROM messages WHERE message_id = 'CAF1x-sozan-0001@mail.example'\" | grep -q 'سوزان أحمد'"

# Envelope recipient: -r, then $ORIGINAL_RECIPIENT, $RECIPIENT, Delivered-To.
mk() { sed "s/^Message-ID: .*/Message-ID: <$1@test.example>/" "$DATA/question-en.eml"; }
mk r1 | "$CONFMAIL" filter -r Register@ICSSI.example
mk r2 | ORIGINAL_RECIPIENT=announce-request@icssi.example RECIPIENT=x@icssi.example "$CONFMAIL" filter
mk r3 | RECIPIENT=register@icssi.example "$CONFMAIL" filter
mk r4 | "$CONFMAIL" filter
# (the class is the content's: a question, wherever it was sent)
rcpt() { sql "SELECT envelope_recipient || ' ' || class FROM messages WHERE message_id = '$1@test.example'"; }
equal "-r names the recipient (lower-cased)" "$(rcpt r1)" "register@icssi.example question"
equal "\$ORIGINAL_RECIPIENT before \$RECIPIENT" "$(rcpt r2)" "announce-request@icssi.example question"
equal "\$RECIPIENT when set" "$(rcpt r3)" "register@icssi.example question"
equal "Delivered-To as the last resort" "$(rcpt r4)" "info@icssi.example question"
equal "where the recipient came from is kept" \
	"$(sql "SELECT group_concat(recipient_source, ',') FROM arrivals a JOIN messages m ON m.id = a.message WHERE m.message_id LIKE 'r_@test.example' ORDER BY a.id")" \
	"-r,\$ORIGINAL_RECIPIENT,\$RECIPIENT,Delivered-To"

# Envelope sender: $SENDER (empty is the null sender), else Return-Path.
mk s1 | SENDER= "$CONFMAIL" filter
mk s2 | SENDER=someone@else.example "$CONFMAIL" filter
equal "empty \$SENDER is the null sender" "$(sql "SELECT quote(envelope_sender) || ' ' || noreply_reason FROM messages WHERE message_id = 's1@test.example'")" "'' null envelope sender"
equal "\$SENDER before Return-Path" "$(sql "SELECT envelope_sender FROM messages WHERE message_id = 's2@test.example'")" "someone@else.example"
equal "Return-Path when no \$SENDER" "$(sql "SELECT envelope_sender FROM messages WHERE message_id = 'r4@test.example'")" "m.keller@solidarity-bern.example"

# CONFMAIL_NOW fixes the clock.
mk t1 | CONFMAIL_NOW=2022-02-01T10:00:00+03:00 "$CONFMAIL" filter
equal "received_at from CONFMAIL_NOW, in UTC" "$(sql "SELECT received_at FROM messages WHERE message_id = 't1@test.example'")" "2022-02-01T07:00:00Z"

# stats --json has DESIGN.md's shape and the right counts.
"$CONFMAIL" stats --json >"$TMP/stats.json"
check "stats --json has the documented shape" python3 - "$TMP/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert isinstance(s["messages"]["total"], int) and isinstance(s["messages"]["by_class"], dict)
assert isinstance(s["registrations"]["total"], int) and isinstance(s["registrations"]["by_status"], dict)
assert set(s["tickets"]) >= {"open", "total"} and set(s["subscribers"]) >= {"active", "total"}
assert set(s["outbox"]) >= {"queued", "deferred", "sent", "failed"}
PY
equal "stats counts the messages" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"]["total"])' "$TMP/stats.json")" \
	"$(sql 'SELECT count(*) FROM messages')"
# the DSN, and the question that came with a null sender
equal "stats counts bounces" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"]["by_class"]["bounce"])' "$TMP/stats.json")" 2

# -f names the envelope sender; '' and MAILER-DAEMON are the null sender.
mk f1 | SENDER=env@else.example "$CONFMAIL" filter -f Opt@Else.example
mk f2 | "$CONFMAIL" filter -f ''
equal "-f before \$SENDER" "$(sql "SELECT envelope_sender FROM messages WHERE message_id = 'f1@test.example'")" "opt@else.example"
equal "-f '' is the null sender" "$(sql "SELECT quote(envelope_sender) FROM messages WHERE message_id = 'f2@test.example'")" "''"
mk u1 | "$CONFMAIL" filter -r 'أحمد@icssi.example'
equal "a UTF-8 -r is kept whatever the locale" "$(sql "SELECT envelope_recipient FROM messages WHERE message_id = 'u1@test.example'")" "أحمد@icssi.example"

# A wrong command line in the MTA's set-up is a configuration error (78),
# and every failure starts with the RFC 3463 code Postfix's pipe(8) uses to
# defer (4.x.x) or bounce (5.x.x).
expect_rc 78 "filter refuses a file argument as a configuration error" "$CONFMAIL" filter "$DATA/question-en.eml" </dev/null
check "... and says 4.3.5 first" grep -q '^4\.3\.5 confmail: filter: the message comes on standard input' "$TMP/err"
expect_rc 78 "filter refuses an unknown option as a configuration error" "$CONFMAIL" filter --frobnicate </dev/null
small=$(conf_with limits max_message_size 100)
expect_rc 65 "oversize is 65" "$CONFMAIL" -c "$small" filter <"$DATA/question-en.eml"
check "... and says 5.3.4 first" grep -q '^5\.3\.4 confmail: message refused: larger than the limit of 100 bytes' "$TMP/err"
bad=$(conf_with transport kind pigeon)
expect_rc 78 "a configuration error is 78" "$CONFMAIL" -c "$bad" filter <"$DATA/question-en.eml"
check "... and says 4.3.5 first" grep -q '^4\.3\.5 confmail: .*: \[transport\] kind: expected one of' "$TMP/err"
expect_rc 78 "check's configuration errors carry no status code" "$CONFMAIL" -c "$bad" check
check "... (they are for people)" grep -q '^confmail: ' "$TMP/err"

# Usage errors of other commands are usage errors.
expect_rc 64 "unknown command" "$CONFMAIL" frobnicate
expect_rc 66 "stats without a database says so" env CONFMAIL_DATABASE="$TMP/none.sqlite" "$CONFMAIL" stats
# The compiled rules are kept beside the database for the next delivery
# (rules_cache.c): for its owner only, and a damaged or foreign file
# costs time, never a message or a different result.
cache="$CONFMAIL_DATABASE.rules-cache"
check "filter keeps the compiled rules beside the database" test -s "$cache"
equal "... readable by its owner only" "$(stat -c %a "$cache")" 600
for how in damaged empty; do
	if [ $how = damaged ]; then head -c 5000 /dev/urandom >"$cache"; else : >"$cache"; fi
	mk "cache-$how" | "$CONFMAIL" filter || notok "filter with cache file $how exited $?"
	equal "cache file $how: the message is recorded" \
		"$(sql "SELECT count(*) FROM messages WHERE message_id = 'cache-$how@test.example'")" 1
	check "... and the file is made again" sh -c "head -c 22 '$cache' | grep -q '^confmail rules cache'"
done
mkdir -p "$TMP/again"
CONFMAIL_DATABASE="$TMP/again/db.sqlite" "$CONFMAIL" init >/dev/null
for f in "$DATA"/*.eml; do CONFMAIL_DATABASE="$TMP/again/db.sqlite" "$CONFMAIL" filter <"$f"; done
equal "the same samples through a warm cache are classified the same" \
	"$(sqlite3 "$TMP/again/db.sqlite" "SELECT class || ' ' || language FROM messages ORDER BY id")" \
	"$(sql "SELECT class || ' ' || language FROM messages WHERE id <= $n ORDER BY id")"

finish
