package source

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Config is one source type's own keys in a source block (CSI's url,
// url_file, http_client_config...). They sit flat beside the common keys
// and are checked strictly per type: a key neither knows is an error.
type Config interface {
	// Validate checks the keys and resolves relative files against dir,
	// the config file's directory. Its errors never print a secret.
	Validate(dir string) error
}

// Options are what every source gets besides its own keys.
type Options struct {
	UserAgent string // e.g. "license_exporter/1.2.3"
}

// Factory makes sources of one type.
type Factory struct {
	// NewConfig returns the type's keys with their defaults set, to decode
	// a source block into: a pointer to a struct with yaml tags.
	NewConfig func() Config
	// New builds a source from a validated config made by NewConfig.
	New func(cfg Config, o Options) (Source, error)
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a source type known by name, the value of `type:` in a
// source block. An implementation registers itself in init; source/all
// links every implementation in. It panics on a second registration.
func Register(typ string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[typ]; dup {
		panic("source: type " + typ + " registered twice")
	}
	if f.NewConfig == nil || f.New == nil {
		panic("source: type " + typ + " registered without NewConfig or New")
	}
	registry[typ] = f
}

// Types lists the registered types, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	types := make([]string, 0, len(registry))
	for t := range registry {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

func lookup(typ string) (Factory, error) {
	registryMu.RLock()
	f, ok := registry[typ]
	registryMu.RUnlock()
	if !ok {
		return Factory{}, fmt.Errorf("type %q is not supported (known: %s)", typ, strings.Join(Types(), ", "))
	}
	return f, nil
}

// NewConfig returns the keys of type typ with their defaults, or an error
// naming an unknown type and the known ones.
func NewConfig(typ string) (Config, error) {
	f, err := lookup(typ)
	if err != nil {
		return nil, err
	}
	return f.NewConfig(), nil
}

// New builds a source of type typ from its validated keys: the one way
// from a config to a source, for the exporter and the sidecar alike.
func New(typ string, cfg Config, o Options) (Source, error) {
	f, err := lookup(typ)
	if err != nil {
		return nil, err
	}
	return f.New(cfg, o)
}
