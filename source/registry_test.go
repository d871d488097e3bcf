package source

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

type keys struct{ Server string }

func (k *keys) Validate(string) error { return nil }

func init() {
	Register("registrytest", Factory{
		NewConfig: func() Config { return &keys{Server: "default"} },
		New: func(c Config, o Options) (Source, error) {
			if c.(*keys).Server == "" {
				return nil, errors.New("no server")
			}
			return empty{}, nil
		},
	})
}

func TestRegistry(t *testing.T) {
	if !slices.Contains(Types(), "registrytest") || !slices.IsSorted(Types()) {
		t.Fatalf("types %v", Types())
	}
	cfg, err := NewConfig("registrytest")
	if err != nil || cfg.(*keys).Server != "default" {
		t.Fatalf("NewConfig: %+v, %v", cfg, err)
	}
	src, err := New("registrytest", cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Licenses(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		func() error { _, err := NewConfig("flexlm"); return err }(),
		func() error { _, err := New("flexlm", cfg, Options{}); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), `type "flexlm" is not supported (known: `) || !strings.Contains(err.Error(), "registrytest") {
			t.Errorf("unknown type: %v", err)
		}
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a second registration of a type did not panic")
		}
	}()
	Register("registrytest", Factory{NewConfig: func() Config { return &keys{} }, New: func(Config, Options) (Source, error) { return nil, nil }})
}
