package probe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Redacted replaces a secret.
const Redacted = "<redacted>"

// minSubstring is the shortest secret or personal value looked for inside
// longer text; a shorter one is replaced only where it is a whole string.
// Two or three letters would turn up in unrelated words ("en" in
// "Engineering"), and cannot be a secret worth the name.
const minSubstring = 4

// scrubber removes secrets, and unless showUsers pseudonymises user names,
// hosts and display names, from everything the probe prints or dumps.
// One scrubber serves a whole probe, so a user has the same pseudonym in
// every file.
type scrubber struct {
	showUsers bool
	secrets   map[string]bool
	pseudo    map[string]string // personal value -> pseudonym
	counts    map[string]int    // per category
	users     map[string]map[string]bool
	repl      *strings.Replacer // nil: rebuild
}

func newScrubber(secrets []string, showUsers bool) *scrubber {
	s := &scrubber{showUsers: showUsers, secrets: map[string]bool{}, pseudo: map[string]string{}, counts: map[string]int{}, users: map[string]map[string]bool{}}
	for _, v := range secrets {
		if v != "" {
			s.secrets[v] = true
		}
	}
	return s
}

// personal records a person's value of a category (user, host, name).
func (s *scrubber) personal(category, value string) {
	if value == "" {
		return
	}
	if s.users[category] == nil {
		s.users[category] = map[string]bool{}
	}
	s.users[category][value] = true
	if _, ok := s.pseudo[value]; ok || s.secrets[value] {
		return
	}
	s.counts[category]++
	s.pseudo[value] = fmt.Sprintf("%s-%04d", category, s.counts[category])
	s.repl = nil
}

// replacer replaces every secret and (unless showUsers) personal value of
// minSubstring bytes or more, the longest first.
func (s *scrubber) replacer() *strings.Replacer {
	if s.repl != nil {
		return s.repl
	}
	type pair struct{ old, new string }
	var pairs []pair
	for v := range s.secrets {
		if len(v) >= minSubstring {
			pairs = append(pairs, pair{v, Redacted})
		}
	}
	if !s.showUsers {
		for v, p := range s.pseudo {
			if len(v) >= minSubstring {
				pairs = append(pairs, pair{v, p})
			}
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if len(pairs[i].old) != len(pairs[j].old) {
			return len(pairs[i].old) > len(pairs[j].old)
		}
		return pairs[i].old < pairs[j].old
	})
	args := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		args = append(args, p.old, p.new)
	}
	s.repl = strings.NewReplacer(args...)
	return s.repl
}

// Text scrubs one string of upstream's.
func (s *scrubber) Text(v string) string {
	if s.secrets[v] {
		return Redacted
	}
	if p, ok := s.pseudo[v]; ok && !s.showUsers {
		return p
	}
	return s.replacer().Replace(v)
}

// Body scrubs a document for a dump or an excerpt. JSON string literals
// are decoded, scrubbed and written back, so escaped forms (\/, \u0041)
// are caught and the document stays valid JSON. In a body that is not
// valid JSON, the text between literals and a literal that does not
// decode are scrubbed as plain text too. Each byte is looked at once, so
// a pseudonym just written is never replaced again.
func (s *scrubber) Body(b []byte) []byte {
	text := !json.Valid(b)
	out := make([]byte, 0, len(b))
	plain := func(seg []byte) {
		if text {
			seg = []byte(s.replacer().Replace(string(seg)))
		}
		out = append(out, seg...)
	}
	last := 0
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		plain(b[last:i])
		end := literalEnd(b, i)
		lit := b[i:end]
		var v string
		if json.Unmarshal(lit, &v) == nil {
			if w := s.Text(v); w != v {
				lit = quote(w)
			}
			out = append(out, lit...)
		} else {
			plain(lit)
		}
		last, i = end, end-1
	}
	plain(b[last:])
	return out
}

// literalEnd returns the index just past the string literal that starts
// at b[i], or len(b) when it is not closed.
func literalEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

func quote(v string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// distinct counts the distinct values of a category seen.
func (s *scrubber) distinct(category string) int { return len(s.users[category]) }

// secretsOnly removes the secrets from text that is not upstream's (the
// rendered report), leaving people's names to the fields that hold them.
func (s *scrubber) secretsOnly(text string) string {
	var olds []string
	for v := range s.secrets {
		if len(v) >= minSubstring {
			olds = append(olds, v)
		}
	}
	sort.Slice(olds, func(i, j int) bool {
		return len(olds[i]) > len(olds[j]) || len(olds[i]) == len(olds[j]) && olds[i] < olds[j]
	})
	args := make([]string, 0, 2*len(olds))
	for _, v := range olds {
		args = append(args, v, Redacted)
	}
	return strings.NewReplacer(args...).Replace(text)
}
