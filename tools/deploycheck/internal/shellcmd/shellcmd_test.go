package shellcmd

import (
	"slices"
	"strings"
	"testing"
)

func TestFindInLoopWithEnv(t *testing.T) {
	script := `mkdir -p /out
for p in a b; do
	if [ -d cmd/$p ]; then CGO_ENABLED=0 go build -ldflags "-X v=${V}" -o /out/$p ./cmd/$p || exit 1; fi
done
go vet ./...`
	calls, err := Find(script, map[string]string{"V": "@V@"}, "go", "build")
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 {
		t.Fatalf("want 1 go build, got %d: %+v", len(calls), calls)
	}
	c := calls[0]
	want := []string{"go", "build", "-ldflags", "-X v=@V@", "-o", "/out/" + LoopVar, "./cmd/" + LoopVar}
	if !slices.Equal(c.Args, want) {
		t.Errorf("args:\n got %q\nwant %q", c.Args, want)
	}
	if !slices.Equal(c.Assigns, []string{"CGO_ENABLED=0"}) {
		t.Errorf("assigns: %q", c.Assigns)
	}
	if !slices.Equal(c.Loop, []string{"a", "b"}) {
		t.Errorf("loop: %q", c.Loop)
	}
}

func TestFindRefusesUnsetVariable(t *testing.T) {
	_, err := Find(`go build -ldflags "-X v=$MISSING"`, nil, "go", "build")
	if err == nil || !strings.Contains(err.Error(), "MISSING") {
		t.Fatalf("want an error naming MISSING, got %v", err)
	}
}

func TestFindSyntaxError(t *testing.T) {
	if _, err := Find(`for p in; do go build`, nil, "go"); err == nil {
		t.Fatal("want a parse error")
	}
}

// FuzzFind: any script either parses or is refused; nothing panics, and a
// call found always starts with the prefix.
func FuzzFind(f *testing.F) {
	f.Add(`for p in a b; do CGO_ENABLED=0 go build -o /out/$p ./cmd/$p || exit 1; done`)
	f.Add(`go build -ldflags "-X v=${V}" ./...`)
	f.Add(`if [ -d x ]; then echo "$(go build)"; fi`)
	f.Add(`for; do`)
	f.Fuzz(func(t *testing.T, script string) {
		calls, err := Find(script, map[string]string{"V": "1"}, "go", "build")
		if err != nil {
			return
		}
		for _, c := range calls {
			if len(c.Args) < 2 || c.Args[0] != "go" || c.Args[1] != "build" {
				t.Fatalf("call %q does not start with go build", c.Args)
			}
		}
	})
}
