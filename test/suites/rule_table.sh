#!/usr/bin/env bash
# test/suites/rule_table.sh -- the stable rule names of SPEC §8 are one list:
# the README's table of rules (rows | `name` | SQLSTATE | when |), the
# errrule("name") calls of src/*.c, and the rule list of
# test/error_fields.sql (which tests each rule) name the same rules, the
# README and the test with the same SQLSTATEs.  Reads files only; no
# database.  Ends with `N passed, M failed`.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/suites/lib/report.sh
source "$repo/test/suites/lib/report.sh"
passed=0
failed=0

readme=$repo/README.md
tapfile=$repo/test/error_fields.sql

# name SQLSTATE, one a line, sorted
# shellcheck disable=SC2016  # (backquotes of the Markdown, not of the shell)
readme_rules=$(sed -nE 's/^\| *`([a-z0-9_]+)` *\| *([0-9A-Z]{5}) *\|.*\|.*$/\1 \2/p' "$readme" | sort)
readme_names=$(cut -d' ' -f1 <<<"$readme_rules")
code_names=$(grep -ohE 'errrule\("[^"]*"\)' "$repo"/src/*.c | sed -E 's/errrule\("(.*)"\)/\1/' | sort -u)
tap_rules=$(sed -nE "s/^[[:space:]]*\('([a-z0-9_]+)', '([0-9A-Z]{5})'\)[,;]?[[:space:]]*$/\1 \2/p" "$tapfile" | sort)

n=$(grep -c . <<<"$readme_names")
if ((n > 0)) && [[ -z $(uniq -d <<<"$readme_names") ]]; then
	ok "README.md: $n rules in the table, no name twice"
else
	not_ok "README.md: the table of rules has rows and no name twice" \
		"rows: $n" "twice: $(uniq -d <<<"$readme_names" | tr '\n' ' ')"
fi

# every errrule() names its rule as a literal, so that this check sees it
dynamic=$(grep -noE 'errrule\([^)]*\)?' "$repo"/src/*.c | grep -vE ':errrule\("' |
	grep -vE '/fields\.c:[0-9]+:errrule\((rule\)|const char \*rule\))$' | sed "s|^$repo/||" || true)
if [[ -z $dynamic ]]; then
	ok "src/*.c: every errrule() call names its rule as a string literal"
else
	not_ok "src/*.c: every errrule() call names its rule as a string literal" "$dynamic"
fi

only_readme=$(comm -23 <(echo "$readme_names") <(echo "$code_names") | tr '\n' ' ')
only_code=$(comm -13 <(echo "$readme_names") <(echo "$code_names") | tr '\n' ' ')
if [[ -z $only_readme && -z $only_code ]]; then
	ok "README.md and src/*.c name the same $(grep -c . <<<"$code_names") rules"
else
	not_ok "README.md and src/*.c name the same rules" \
		"${only_readme:+in the README only: $only_readme}" \
		"${only_code:+in errrule() only: $only_code}"
fi

missing=$(comm -23 <(echo "$readme_rules") <(echo "$tap_rules") | tr '\n' ';')
extra=$(comm -13 <(echo "$readme_rules") <(echo "$tap_rules") | tr '\n' ';')
if [[ -z $missing && -z $extra ]]; then
	ok "test/error_fields.sql lists every rule of the README with its SQLSTATE"
else
	not_ok "test/error_fields.sql lists every rule of the README with its SQLSTATE" \
		"${missing:+README rows not in the test: $missing}" \
		"${extra:+test rows not in the README: $extra}"
fi

# and has a case for each (the rule name again, as a case's first value)
uncased=$(while read -r rule; do
	[[ -n $rule ]] || continue
	grep -E "^[[:space:]]*\('$rule', '" "$tapfile" |
		grep -qvE "^[[:space:]]*\('$rule', '[0-9A-Z]{5}'\)[,;]?[[:space:]]*$" || echo "$rule"
done <<<"$readme_names" | tr '\n' ' ')
if [[ -z $uncased ]]; then
	ok "test/error_fields.sql has a case for every rule"
else
	not_ok "test/error_fields.sql has a case for every rule" "no case: $uncased"
fi

echo "$passed passed, $failed failed"
((failed == 0))
