//go:build race

package simulator

func init() { raceEnabled = true }
