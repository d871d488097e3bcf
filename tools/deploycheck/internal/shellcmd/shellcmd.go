// Package shellcmd finds the commands a shell script runs, with their words
// expanded, so that two scripts (the Makefile's recipe as make prints it and
// the Dockerfile's RUN) can be compared command for command.
package shellcmd

import (
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// Call is one simple command, expanded.
type Call struct {
	// Assigns are the NAME=value words before the command.
	Assigns []string
	// Args is the command and its arguments.
	Args []string
	// Loop is the list a surrounding for loop iterates over, if any; its
	// variable expands to LoopVar inside Args.
	Loop []string
}

// LoopVar is what a for loop's variable expands to in a Call.
const LoopVar = "@LOOP@"

// Find parses script and returns every simple command whose leading words
// are prefix (for example "go", "build"). env gives the variables; a
// variable that env lacks is an error, never an empty string.
func Find(script string, env map[string]string, prefix ...string) ([]Call, error) {
	f, err := syntax.NewParser().Parse(strings.NewReader(script), "")
	if err != nil {
		return nil, fmt.Errorf("parse shell: %w", err)
	}
	var pairs []string
	for k, v := range env {
		pairs = append(pairs, k+"="+v)
	}
	w := &walker{prefix: prefix}
	w.walk(f, pairs, nil)
	return w.calls, w.err
}

type walker struct {
	prefix []string
	calls  []Call
	err    error
}

func (w *walker) walk(node syntax.Node, env []string, loop []string) {
	cfg := &expand.Config{Env: expand.ListEnviron(env...), NoUnset: true}
	syntax.Walk(node, func(n syntax.Node) bool {
		if w.err != nil {
			return false
		}
		switch n := n.(type) {
		case *syntax.ForClause:
			wi, ok := n.Loop.(*syntax.WordIter)
			if !ok {
				return true
			}
			items, err := expand.Fields(cfg, wi.Items...)
			if err != nil {
				w.err = fmt.Errorf("for loop items: %w", err)
				return false
			}
			inner := append(append([]string(nil), env...), wi.Name.Value+"="+LoopVar)
			for _, st := range n.Do {
				w.walk(st, inner, items)
			}
			return false
		case *syntax.CallExpr:
			if len(n.Args) < len(w.prefix) {
				return true
			}
			args, err := expand.Fields(cfg, n.Args...)
			if err != nil {
				w.err = fmt.Errorf("expanding a command: %w", err)
				return false
			}
			if len(args) < len(w.prefix) {
				return true
			}
			for i, p := range w.prefix {
				if args[i] != p {
					return true
				}
			}
			c := Call{Args: args, Loop: loop}
			for _, a := range n.Assigns {
				v := ""
				if a.Value != nil {
					if v, err = expand.Literal(cfg, a.Value); err != nil {
						w.err = fmt.Errorf("expanding %s=: %w", a.Name.Value, err)
						return false
					}
				}
				c.Assigns = append(c.Assigns, a.Name.Value+"="+v)
			}
			w.calls = append(w.calls, c)
		}
		return true
	})
}
