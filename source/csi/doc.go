// Package csi is the source for CSI's cloud License Monitor (ETABS,
// SAP2000, SAFE, CSiBridge), as docs/upstream-api.md describes its API.
// wire.go is the only file that knows CSI's field names; the client reads
// them into the source-neutral model of package source and classifies
// every failure by source.Reason.
package csi

import "github.com/license-monitor/license-monitor/source"

// The capabilities CSI has today.
var (
	_ source.Source     = (*Client)(nil)
	_ source.Terminator = (*Client)(nil)
	_ source.RawReader  = (*Client)(nil)

	_ source.SecretHolder = (*Config)(nil)
)
