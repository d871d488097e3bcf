// Package all links in every source implementation, so that `type:` in a
// config can name it. Adding a source is its package plus one line here.
package all

import (
	_ "github.com/license-monitor/license-monitor/source/csi"    // type: csi
	_ "github.com/license-monitor/license-monitor/source/flexlm" // type: flexlm
)
