package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v2"
)

// Errors name the key, never the value: a value typed in the wrong place
// may be a secret (a token pasted under the wrong key), and config errors
// reach logs and the 500 answer of POST /-/reload.

// typeErrorRE is yaml.v2's type error, which quotes the start of the value.
var typeErrorRE = regexp.MustCompile("line (\\d+): cannot unmarshal (!!\\w+)(?: `[^`]*`)? into ([^\\n]*)")

// nameTypeErrors rewrites yaml.v2's type errors to name the key on their
// line in place of the value's start.
func nameTypeErrors(b []byte, msg string) string {
	lines := strings.Split(string(b), "\n")
	return typeErrorRE.ReplaceAllStringFunc(msg, func(m string) string {
		sub := typeErrorRE.FindStringSubmatch(m)
		n, _ := strconv.Atoi(sub[1])
		key := ""
		if n >= 1 && n <= len(lines) {
			line := strings.TrimLeft(strings.TrimSpace(lines[n-1]), "- ")
			if k, _, ok := strings.Cut(line, ":"); ok && !strings.ContainsAny(k, " \"'`{[") {
				key = fmt.Sprintf(" key %q:", k)
			}
		}
		return fmt.Sprintf("line %d:%s cannot unmarshal a %s into %s (the value is not shown)", n, key, strings.TrimPrefix(sub[2], "!!"), sub[3])
	})
}

var (
	sourceNamePathRE = regexp.MustCompile(`^(sources\[\d+\]|source)\.name$`)
	sourceTypePathRE = regexp.MustCompile(`^(sources\[\d+\]|source)\.type$`)
	// sourceTypeRE is the shape of a registered type's name (csi, flexlm).
	sourceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
)

// minHidden is the shortest value hidden wherever it appears in an error;
// shorter ones (60s, true, csi) are hidden only where quoted, so that
// words of the message itself stay readable.
const minHidden = 6

// hideValues replaces every scalar value of the YAML document b that
// appears in err's text with the path of its key, e.g.
// <value of sources[0].poll_interval>: for errors whose producer (a
// library's UnmarshalYAML, a validation) printed the value.
func hideValues(b []byte, err error) error {
	if err == nil {
		return nil
	}
	var doc any
	if yaml.Unmarshal(b, &doc) != nil {
		return err
	}
	type scalar struct{ path, text string }
	var scalars []scalar
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[any]any:
			for k, sub := range v {
				p := fmt.Sprint(k)
				if path != "" {
					p = path + "." + p
				}
				walk(p, sub)
			}
		case []any:
			for i, sub := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), sub)
			}
		case nil:
		default:
			// A valid source name is the source label, public, and how
			// errors say which source they mean; a type-shaped type is
			// what an unknown-type error must name.
			if t := fmt.Sprint(v); t != "" && !(sourceNamePathRE.MatchString(path) && sourceNameRE.MatchString(t)) &&
				!(sourceTypePathRE.MatchString(path) && sourceTypeRE.MatchString(t)) {
				scalars = append(scalars, scalar{path, t})
			}
		}
	}
	walk("", doc)
	// Longest first: a value that holds another is replaced whole.
	slices.SortFunc(scalars, func(a, b scalar) int { return len(b.text) - len(a.text) })
	var pairs []string
	for _, s := range scalars {
		hidden := "<value of " + s.path + ">"
		for _, q := range []string{`"`, "`", "'"} {
			pairs = append(pairs, q+s.text+q, hidden)
		}
		if len(s.text) >= minHidden {
			pairs = append(pairs, s.text, hidden)
		}
	}
	msg := err.Error()
	if out := strings.NewReplacer(pairs...).Replace(msg); out != msg {
		return errors.New(out)
	}
	return err
}
