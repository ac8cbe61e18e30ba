# Registrations: references, statuses (registered, incomplete, late,
# waitlisted), updates applied only from the registered address, a
# cancellation pending until that address confirms, every change kept with
# its message, nothing applied twice.
source "$(dirname "$0")/lib.sh"
"$CONFMAIL" init >/dev/null

# msg ID FROM SUBJECT BODY... : a message to register@ on stdin
msg() {
	local id=$1 from=$2 subject=$3
	shift 3
	printf 'From: %s\nTo: register@icssi.example\nMessage-ID: <%s@test.example>\nSubject: %s\nContent-Type: text/plain; charset=utf-8\n\n' \
		"$from" "$id" "$subject"
	printf '%s\n' "$@"
}
deliver() { CONFMAIL_NOW=${NOW:-2022-01-20T09:00:00Z} "$CONFMAIL" filter -r register@icssi.example; }
reg() { sql "SELECT $1 FROM registrations WHERE email = '$2'"; }

msg r1 amal@tigris.example "Registration" "Name: Amal Rashid" "Organisation: Tigris Voices" \
	"Country: Iraq" "Funding: we need support for travel" "Principles: I accept" | deliver
equal "a complete registration is registered" "$(reg status amal@tigris.example)" registered
equal "its reference is the prefix and a number" "$(reg reference amal@tigris.example)" ICSSI22-0001
equal "the message is linked to it" "$(sql "SELECT registration FROM messages WHERE message_id = 'r1@test.example'")" 1
equal "its creation is in the history" "$(sql "SELECT kind || ' ' || new_value FROM registration_changes WHERE registration = 1")" "created registered"

msg r2 peter@legacy.example "registration" "Name: Peter Brand" "Country: Germany" | deliver
equal "a registration without organisation, funding, principles is incomplete" "$(reg status peter@legacy.example)" incomplete
msg u1 peter@legacy.example "Re: [ICSSI22-0002] registration" "Organisation: Legacy Peace Network" \
	"Travel: we cover our own travel" "I accept the principles of the conference." | deliver
equal "an update from the registered address completes it" "$(reg status peter@legacy.example)" registered
equal "each changed field is in the history, applied" \
	"$(sql "SELECT count(*) FROM registration_changes WHERE registration = 2 AND kind = 'update' AND state = 'applied'")" 3
equal "the values in force are updated" "$(reg "json_extract(fields, '$.organization')" peter@legacy.example)" "Legacy Peace Network"

# A stranger who guesses the reference changes nothing.
msg u2 mallory@evil.example "Change [ICSSI22-0002]" "Please update my registration." "Organisation: Evil Corp" | deliver
equal "a change from another address is not applied" "$(reg "json_extract(fields, '$.organization')" peter@legacy.example)" "Legacy Peace Network"
equal "... it is kept as pending, with who asked" \
	"$(sql "SELECT state || ' ' || from_addr || ' ' || new_value FROM registration_changes WHERE message = (SELECT id FROM messages WHERE message_id = 'u2@test.example')")" \
	"pending mallory@evil.example Evil Corp"

# The same update delivered again does nothing twice.
msg u1 peter@legacy.example "Re: [ICSSI22-0002] registration" "Organisation: Legacy Peace Network" \
	"Travel: we cover our own travel" "I accept the principles of the conference." | deliver
equal "a redelivered update adds no history" \
	"$(sql "SELECT count(*) FROM registration_changes WHERE registration = 2")" 5

# A second registration from the same address is an update, not a second person.
msg r3 amal@tigris.example "Registration" "Name: Amal Rashid" "City: Basra" | deliver
equal "one registration per address" "$(sql "SELECT count(*) FROM registrations WHERE email = 'amal@tigris.example'")" 1
equal "... the new field is added" "$(reg "json_extract(fields, '$.city')" amal@tigris.example)" Basra

# Cancelling waits for the registered address to confirm.
msg c1 amal@tigris.example "Cancel" "I am sorry, I have to cancel my registration." | deliver
equal "a cancellation is pending, not applied" "$(reg "status || ' ' || pending" amal@tigris.example)" "registered cancel"
equal "... and recorded" "$(sql "SELECT kind || ' ' || state FROM registration_changes WHERE kind = 'cancel'")" "cancel pending"

# After the deadline (15 February, Baghdad time): late.
NOW=2022-02-15T21:30:00Z msg r4 late@x.example "Registration" "Name: Late Comer" "Organisation: X" \
	"Country: Italy" "Funding: self" "Principles: yes" | NOW=2022-02-15T21:30:00Z deliver
equal "after the deadline a registration is late" "$(reg status late@x.example)" late
NOW=2022-02-15T20:30:00Z
msg r5 ontime@x.example "Registration" "Name: On Time" "Organisation: X" "Country: Italy" \
	"Funding: self" "Principles: yes" | deliver
equal "on the last day, Baghdad time, it is not" "$(reg status ontime@x.example)" registered
unset NOW

# Over capacity: waitlisted.
full=$(conf_with conference capacity 2)
msg r6 waiting@x.example "Registration" "Name: Wait Ing" "Organisation: X" "Country: Italy" \
	"Funding: self" "Principles: yes" | CONFMAIL_NOW=2022-01-20T09:00:00Z "$CONFMAIL" -c "$full" filter
equal "over capacity a registration is waitlisted" "$(reg status waiting@x.example)" waitlisted

"$CONFMAIL" stats --json >"$TMP/stats.json"
equal "stats counts registrations by status" \
	"$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["registrations"]; print(s["total"], s["by_status"].get("late"), s["by_status"].get("waitlisted"))' "$TMP/stats.json")" \
	"5 1 1"
# What organisers read.
expect_rc 0 "registrations list" "$CONFMAIL" registrations list
check "... lists every registration" test "$(wc -l <"$TMP/out")" = "$(sql 'SELECT count(*) FROM registrations')"
check "... with reference, status and name" grep -qE '^ICSSI22-0002 +registered .*Peter Brand \| Legacy Peace Network \| DE' "$TMP/out"
expect_rc 0 "registrations show REF" "$CONFMAIL" registrations show icssi22-0002
check "... shows the values in force" grep -q '^organization *Legacy Peace Network' "$TMP/out"
check "... and the stranger's pending change, with who asked" grep -q 'update  pending  organization: Legacy Peace Network -> Evil Corp  (from mallory@evil.example' "$TMP/out"
expect_rc 66 "an unknown reference is said to be unknown" "$CONFMAIL" registrations show ICSSI22-9999

# The registry fails (here a trigger stands in for a bug): the message is
# kept all the same, and reprocess acts on it once mended.
sql "CREATE TRIGGER boom BEFORE INSERT ON registrations BEGIN SELECT RAISE(ABORT, 'registry broken'); END;"
msg r8 kept@x.example "Registration" "Name: Kept Anyway" "Organisation: X" | deliver 2>"$TMP/warn"
equal "a message whose registration fails is still accepted" "$?" 0
equal "... and stored" "$(sql "SELECT count(*) FROM messages WHERE message_id = 'r8@test.example'")" 1
check "... with a warning for the MTA's log" grep -q 'recorded without acting on it: .*registry broken' "$TMP/warn"
equal "... and no half-made registration" "$(sql "SELECT count(*) FROM registrations WHERE email = 'kept@x.example'")" 0
sql "DROP TRIGGER boom"

# reprocess: better rules fill what worse ones missed, and create nothing twice.
rm -rf "$TMP/rules" && cp -r "$CONFMAIL_RULES" "$TMP/rules"
sed -i 's/^\(  label \)city | /\1/' "$TMP/rules/fields.rules"	# forget the "City" label
msg r7 rana@x.example "Registration" "Name: Rana Example" "City: Duhok" | CONFMAIL_RULES="$TMP/rules" deliver
equal "with the worse rules the city is unknown" "$(reg "json_extract(fields, '$.city')" rana@x.example)" ""
before=$(sql "SELECT count(*) FROM registrations")
"$CONFMAIL" reprocess >"$TMP/reprocess.out"
equal "reprocess makes the registration the registry missed" "$(sql "SELECT count(*) FROM registrations WHERE email = 'kept@x.example'")" 1
before=$((before + 1))
equal "reprocess with the current rules fills it" "$(reg "json_extract(fields, '$.city')" rana@x.example)" Duhok
check "reprocess says what changed" grep -q "updated (1 field)" "$TMP/reprocess.out"
equal "reprocess creates no registration twice" "$(sql "SELECT count(*) FROM registrations")" "$before"
equal "a pending cancellation is not recorded twice" "$(sql "SELECT count(*) FROM registration_changes WHERE kind = 'cancel'")" 1
"$CONFMAIL" reprocess >"$TMP/again.out"
check "reprocess twice changes nothing the second time" grep -q ", 0 changes" "$TMP/again.out"
equal "database passes integrity_check" "$(sql 'PRAGMA integrity_check')" ok
finish
