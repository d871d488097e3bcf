package identity

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	ok := []string{"kate@acme.example", "Kate@acme.example", "bob", "admin", "j.doe+lic@acme.example", "ACME\\jdoe", "zoë@acme.example", "Ωmega"}
	for _, n := range ok {
		if err := Check(n); err != nil {
			t.Errorf("Check(%q) = %v, want nil", n, err)
		}
	}
	bad := map[string]string{
		"\u212Aate@acme.example": "KELVIN SIGN for K (EqualFold and UsernameCaseMapped turn it into k)",
		"ro\u017Fe@acme.example": "LONG S for s",
		"ｋａｔｅ":                   "fullwidth letters (width-mapped)",
		"zoe\u0308@acme.example": "decomposed ë (not NFC)",
		"kate @acme.example":     "a space",
		"kate\t":                 "a control character",
		"":                       "empty",
		"kate\u200B":             "a zero-width space",
		"\xff\xfe":               "not UTF-8",
		"\uFB01le@acme.example":  "the fi ligature (compatibility character)",
		"admin\u00A0":            "a no-break space",
	}
	for n, why := range bad {
		if err := Check(n); err == nil {
			t.Errorf("Check(%q) accepted %s", n, why)
		}
	}
	if err := Check("\u212Aate"); !errors.Is(err, ErrNotCanonical) {
		t.Errorf("Check(KELVIN SIGN) = %v, want ErrNotCanonical", err)
	}
}

func TestCheckKeyNamesThePlace(t *testing.T) {
	err := CheckKey("users", "\u212Aate")
	if err == nil || !strings.HasPrefix(err.Error(), "users: ") {
		t.Fatalf("CheckKey = %v", err)
	}
}

// FuzzCheck: whatever Check accepts is valid UTF-8, non-empty, a fixed
// point of the profile, and distinct from every other accepted name in
// bytes: acceptance never depends on folding.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"kate", "\u212Aate", "ro\u017Fe", "ｋａｔｅ", "a b", "", "\xff", "Kate@acme.example", "zoë"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if Check(name) != nil {
			return
		}
		if name == "" || !utf8.ValidString(name) {
			t.Fatalf("accepted %q", name)
		}
		if strings.ContainsAny(name, " \t\r\n\u00A0\u212A\u017F") {
			t.Fatalf("accepted a space or a look-alike: %q", name)
		}
		if Check(name) != nil {
			t.Fatalf("not stable: %q", name)
		}
	})
}
