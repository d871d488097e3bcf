package collector

import (
	"time"

	"github.com/license-monitor/license-monitor/source/csi"
)

func errReason(r string, retryAfter time.Duration) error {
	return &csi.Error{Reason: csi.Reason(r), Op: "test", RetryAfter: retryAfter}
}
