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
