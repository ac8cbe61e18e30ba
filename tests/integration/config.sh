# A wrong key or value is reported with file, line and what was expected,
# and exits 78 (EX_CONFIG) - before any message is read.
source "$(dirname "$0")/lib.sh"

expect_rc 0 "the sample conference is valid" "$CONFMAIL" check
check "check names the conference" grep -q 'ICSSI22' "$TMP/out"
check "deadline is the end of 15 February, Baghdad time" grep -q '2022-02-15T23:59:59+03' "$TMP/out"

# bad_value GROUP KEY VALUE EXPECTED-WORDS
bad_value() {
	local conf line
	conf=$(conf_with "$1" "$2" "$3")
	line=$(grep -n "^$2 = " "$conf" | cut -d: -f1)
	expect_rc 78 "[$1] $2 = $3 is refused" "$CONFMAIL" -c "$conf" filter <"$DATA/question-en.eml"
	check "[$1] $2 error names file and line $line" grep -qF "$conf:$line: [$1] $2" "$TMP/err"
	check "[$1] $2 error says what was expected" grep -qF "$4" "$TMP/err"
}
bad_value transport kind carrier-pigeon "expected one of smtp, sendmail, maildir"
bad_value transport port 99999 "expected a whole number from 1 to 65535"
bad_value transport starttls maybe "required, opportunistic, off"
bad_value conference timezone Mars/Olympus "expected a time zone"
bad_value conference registration_deadline "15 Feb" "expected a date such as 2022-02-15"
bad_value conference reference_prefix "ICSSI 22" "expected letters, digits"
bad_value limits max_message_size lots "expected a size such as 25M"
bad_value addresses organisers "organisers at icssi" "is not an address"
bad_value fetch after shred "expected one of move, flag, delete"

conf=$(conf_with store databse /tmp/x.sqlite)
expect_rc 78 "an unknown key is refused" "$CONFMAIL" -c "$conf" check
check "unknown key named with its line" grep -qE "$conf:[0-9]+: \[store\] databse: is not a key" "$TMP/err"

conf=$TMP/group.conf
{ cat "$CONFMAIL_CONF"; printf '\n[smtp]\nhost = x\n'; } >"$conf"
expect_rc 78 "an unknown group is refused" "$CONFMAIL" -c "$conf" check
check "unknown group named with its line" grep -qE "$conf:[0-9]+: \[smtp\]" "$TMP/err"

conf=$TMP/missing.conf
grep -v '^reference_prefix' "$CONFMAIL_CONF" >"$conf"
expect_rc 78 "a required key missing is refused" "$CONFMAIL" -c "$conf" check
check "missing key named" grep -qF "[conference] reference_prefix is required" "$TMP/err"

printf 'this is not an ini file\n' >"$TMP/garbage.conf"
expect_rc 78 "an unreadable configuration is refused" "$CONFMAIL" -c "$TMP/garbage.conf" check
expect_rc 78 "a missing configuration file is refused" "$CONFMAIL" -c "$TMP/nope.conf" filter <"$DATA/question-en.eml"
check "the missing file is named" grep -qF "$TMP/nope.conf" "$TMP/err"

# -c beats $CONFMAIL_CONF; parse works with no configuration at all.
expect_rc 0 "-c is used over \$CONFMAIL_CONF" env CONFMAIL_CONF="$TMP/nope.conf" "$CONFMAIL" -c "$ROOT/contrib/icssi-2022.conf" check
expect_rc 0 "parse needs no configuration" env -u CONFMAIL_CONF sh -c "cd '$TMP' && '$CONFMAIL' parse --json '$DATA/question-en.eml'"
expect_rc 78 "parse with a named broken configuration fails" "$CONFMAIL" -c "$TMP/garbage.conf" parse --json "$DATA/question-en.eml"

# Relative paths are relative to the configuration file.
mkdir -p "$TMP/etc"
sed 's|^database = .*|database = data/conf.sqlite|' "$CONFMAIL_CONF" >"$TMP/etc/c.conf"
expect_rc 0 "relative database path accepted" env -u CONFMAIL_DATABASE sh -c "cd / && '$CONFMAIL' -c '$TMP/etc/c.conf' init"
check "relative database created beside the configuration" test -f "$TMP/etc/data/conf.sqlite"
finish
