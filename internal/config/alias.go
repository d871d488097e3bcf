package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxAliasLen bounds an upstream user name in user_aliases, as the
// sidecar bounds identities.
const maxAliasLen = 256

// Alias is one identity's entry in user_aliases: the upstream user names
// that are this identity's own sessions. In YAML it is one of
//
//	bob: bob@acme.example             # that name, on every source
//	bob: [bob@acme.example, bob]      # any of these names, on every source
//	bob: {csi-prod: bob@acme.example, flex-a: [bob, rjones]}  # per source
//
// In the per-source form a source that is not listed keeps the identity
// itself as its upstream name. Names compare byte for byte.
type Alias struct {
	// All holds the names of the first two forms.
	All []string
	// PerSource holds the third: source name -> names.
	PerSource map[string][]string
}

// UnmarshalYAML accepts the three forms.
func (a *Alias) UnmarshalYAML(unmarshal func(any) error) error {
	var one string
	if err := unmarshal(&one); err == nil {
		*a = Alias{All: []string{one}}
		return nil
	}
	var list []string
	if err := unmarshal(&list); err == nil {
		*a = Alias{All: list}
		if list == nil {
			a.All = []string{}
		}
		return nil
	}
	var per map[string]stringOrList
	if err := unmarshal(&per); err != nil {
		return errors.New("a user_aliases value must be an upstream user name, a list of them, or a map of source name to name or list")
	}
	*a = Alias{PerSource: make(map[string][]string, len(per))}
	for k, v := range per {
		a.PerSource[k] = v
	}
	return nil
}

// MarshalYAML writes the form it was read in.
func (a Alias) MarshalYAML() (any, error) {
	if a.PerSource != nil {
		return a.PerSource, nil
	}
	if len(a.All) == 1 {
		return a.All[0], nil
	}
	return a.All, nil
}

// stringOrList is one name or a list of names.
type stringOrList []string

func (s *stringOrList) UnmarshalYAML(unmarshal func(any) error) error {
	var one string
	if err := unmarshal(&one); err == nil {
		*s = []string{one}
		return nil
	}
	var list []string
	if err := unmarshal(&list); err != nil {
		return errors.New("a per-source alias must be an upstream user name or a list of them")
	}
	*s = list
	return nil
}

// Names are the upstream user names of the identity id on source src.
func (a *Alias) Names(id, src string) []string {
	if a == nil {
		return []string{id}
	}
	if a.PerSource != nil {
		if names, ok := a.PerSource[src]; ok {
			return names
		}
		return []string{id}
	}
	return a.All
}

// validate checks the names (not empty, printable, bounded, no repeats)
// and that each per-source key names a configured source.
func (a *Alias) validate(sources []Source) error {
	check := func(where string, names []string) error {
		if len(names) == 0 {
			return fmt.Errorf("%s: the list of upstream users is empty", where)
		}
		for i, n := range names {
			if err := checkUpstreamName(n); err != nil {
				return fmt.Errorf("%s[%d]: %w", where, i, err)
			}
			if slices.Contains(names[:i], n) {
				return fmt.Errorf("%s[%d]: %q is listed twice", where, i, n)
			}
		}
		return nil
	}
	if a.PerSource == nil {
		return check("names", a.All)
	}
	if len(a.PerSource) == 0 {
		return errors.New("the map of source name to upstream users is empty")
	}
	for _, src := range sortedKeys(a.PerSource) {
		if !slices.ContainsFunc(sources, func(s Source) bool { return s.Name == src }) {
			names := make([]string, len(sources))
			for i := range sources {
				names[i] = sources[i].Name
			}
			return fmt.Errorf("%q is not a configured source (configured: %v)", src, names)
		}
		if err := check(src, a.PerSource[src]); err != nil {
			return err
		}
	}
	return nil
}

// checkUpstreamName accepts a name upstream could send: not empty or blank,
// valid UTF-8 without control characters, at most maxAliasLen bytes. It is
// compared exactly with upstream's user, so it is not normalised.
func checkUpstreamName(n string) error {
	switch {
	case strings.TrimSpace(n) == "":
		return errors.New("the upstream user is empty")
	case len(n) > maxAliasLen:
		return fmt.Errorf("an upstream user is at most %d bytes", maxAliasLen)
	case !utf8.ValidString(n):
		return errors.New("an upstream user must be valid UTF-8")
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return errors.New("an upstream user must not hold control characters")
		}
	}
	if n[0] == ' ' || n[len(n)-1] == ' ' {
		return fmt.Errorf("%q has a leading or trailing space, which upstream never sends", n)
	}
	return nil
}
