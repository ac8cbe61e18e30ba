# The rule files: `confmail check` reports a bad rule with file:line and
# PCRE2's own message; an organiser's edit takes effect without rebuilding.
source "$(dirname "$0")/lib.sh"

expect_rc 0 "the shipped rules are valid" "$CONFMAIL" check
check "check names the rules directory" grep -q "rules $CONFMAIL_RULES: OK" "$TMP/out"

# broken DESCRIPTION FILE SED-EXPRESSION EXPECTED-TEXT
broken() {
	rm -rf "$TMP/rules" && cp -r "$CONFMAIL_RULES" "$TMP/rules"
	sed -i "$3" "$TMP/rules/$2"
	expect_rc 78 "$1 is refused" env CONFMAIL_RULES="$TMP/rules" "$CONFMAIL" check
	check "$1: the error says '$4'" grep -qF -- "$4" "$TMP/err"
}
line=$(grep -n '^class bounce !' "$CONFMAIL_RULES/classify.rules" | head -1 | cut -d: -f1)
broken "an unbalanced parenthesis" classify.rules "$((line + 1))s/~ .*/~ (unclosed/" \
	"$TMP/rules/classify.rules:$((line + 1)): bad pattern at offset 9: missing closing parenthesis"
broken "an unknown place to match" classify.rules "$((line + 1))s/header Content-Type/envelope/" \
	"classify.rules:$((line + 1)): 'envelope' is not something to match"
broken "a recipe without a score" classify.rules "${line}s/ !$//" \
	"classify.rules:$line: expected 'class NAME SCORE'"
fline=$(grep -n '^field name text' "$CONFMAIL_RULES/fields.rules" | cut -d: -f1)
broken "an unknown field type" fields.rules "${fline}s/text/texte/" \
	"fields.rules:$fline: unknown type 'texte'"
broken "a label given to two fields" fields.rules "$((fline + 1))s/\$/ | city/" \
	"label 'city' is already a label of name"
broken "a bad table line" countries.table '$a nocode' "countries.table:"

# The MDA keeps what it made of the rules (DATABASE.rules-cache): a rule
# broken since, even one whose own line is unchanged, is still refused.
"$CONFMAIL" init >/dev/null
"$CONFMAIL" filter <"$DATA/question-en.eml"
check "filter: the rules cache is there" test -s "$CONFMAIL_DATABASE.rules-cache"
rm -rf "$TMP/rules" && cp -r "$CONFMAIL_RULES" "$TMP/rules"
sed -i "$((fline + 1))s/\$/ | city/" "$TMP/rules/fields.rules"
expect_rc 78 "filter refuses the label given to two fields, its cache warm" \
	env CONFMAIL_RULES="$TMP/rules" "$CONFMAIL" filter <"$DATA/question-en.eml"
check "... with the same error" grep -qF "label 'city' is already a label of name" "$TMP/err"

broken "a bool value that is not true or false" fields.rules \
	"$(grep -n '^  value true' "$CONFMAIL_RULES/fields.rules" | head -1 | cut -d: -f1)s/value true/value yes/" \
	"a bool field's value is 'true' or 'false', not 'yes'"

# Forms as people fill them in.
cat >"$TMP/form.eml" <<'MAIL'
From: Rana <rana@example.org>
To: register@icssi.example
Subject: registration
Content-Type: text/plain; charset=utf-8

▪ Name – الاسم: Rana Example
Organisation:
“Example” Net
Country - البلد: Iraq
Gender:   ☐ Male   ☒ Female
Invitation letter :  ☐ Yes   ☒ No
Sessions: "Water and Environment" and "Youth and Peacebuilding"
Languages:
- Arabic
- English
Phone: +964 0770 123 4567
Arrival: 10/3 at 14:30
MAIL
"$CONFMAIL" parse --json "$TMP/form.eml" >"$TMP/form.json"
got() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["fields"][sys.argv[2]]; print(json.dumps(v, ensure_ascii=False))' "$TMP/form.json" "$1"; }
equal "a label after a bullet and with a bilingual dash" "$(got name)" '"Rana Example"'
equal "a value on the next line, quotes kept whole" "$(got organization)" '"“Example” Net"'
equal "a bilingual 'Country - البلد' label" "$(got country)" '"IQ"'
equal "the ticked box answers: Female" "$(got gender)" '"female"'
equal "the ticked box answers: No" "$(got visa_letter)" 'false'
equal "quoted list items, the 'and' between them dropped" "$(got sessions)" '["Water and Environment", "Youth and Peacebuilding"]'
equal "languages one per line below the label" "$(got languages)" '["ar", "en"]'
equal "a trunk 0 after +964 dropped" "$(got phone)" '"+9647701234567"'
equal "a time of day is not a year" "$(got arrival)" '"2022-03-10"'
check "the output is valid UTF-8" python3 -c 'open(__import__("sys").argv[1], encoding="utf-8").read()' "$TMP/form.json"

# An organiser adds a label and a country spelling: no rebuilding.
rm -rf "$TMP/rules" && cp -r "$CONFMAIL_RULES" "$TMP/rules"
printf 'From: a@b.example\nTo: register@icssi.example\nSubject: registration\n\nMoniker: Ava Example\nCountry: Mesopotamia Land\n' >"$TMP/m.eml"
"$CONFMAIL" parse --json "$TMP/m.eml" >"$TMP/before.json"
sed -i '/^field name text/a\  label moniker' "$TMP/rules/fields.rules"
sed -i 's/^IQ\t/IQ\tMesopotamia Land | /' "$TMP/rules/countries.table"
CONFMAIL_RULES="$TMP/rules" "$CONFMAIL" parse --json "$TMP/m.eml" >"$TMP/after.json"
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fields"][sys.argv[2]])' "$1" "$2"; }
equal "before the edit the label means nothing" "$(field "$TMP/before.json" name)" None
equal "a new label is read after the edit" "$(field "$TMP/after.json" name)" "Ava Example"
equal "a new country spelling is read after the edit" "$(field "$TMP/after.json" country)" IQ
finish
