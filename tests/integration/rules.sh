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
