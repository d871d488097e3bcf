// Package identity is the one rule for user names that carry rights: the
// sidecar's callers, and the keys of its config (users, user_aliases).
// Names are compared byte for byte, never case-folded: folding maps look-
// alikes onto real names (U+212A KELVIN SIGN folds to "k", U+017F LONG S
// to "s"), which would hand one person another's roles.
package identity

import (
	"errors"
	"fmt"

	"golang.org/x/text/secure/precis"
)

// ErrNotCanonical is returned for a name that the PRECIS
// UsernameCasePreserved profile (RFC 8265) would change or refuses.
var ErrNotCanonical = errors.New("the user name is not in the PRECIS UsernameCasePreserved form (look-alike, width or compatibility characters, spaces or controls)")

// Check accepts name only if the UsernameCasePreserved profile leaves it
// exactly as it is. It does not fold case, so "Kate" and "kate" stay two
// names, and a name built with U+212A is refused rather than mapped to
// "Kate".
func Check(name string) error {
	if name == "" {
		return errors.New("the user name is empty")
	}
	canon, err := precis.UsernameCasePreserved.String(name)
	if err != nil || canon != name {
		return ErrNotCanonical
	}
	return nil
}

// CheckKey is Check for a config key, naming where it stands.
func CheckKey(where, name string) error {
	if err := Check(name); err != nil {
		return fmt.Errorf("%s: %q: %w", where, name, err)
	}
	return nil
}
