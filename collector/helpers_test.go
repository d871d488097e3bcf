package collector

import (
	"time"

	"github.com/license-monitor/license-monitor/source"
	_ "github.com/license-monitor/license-monitor/source/all" // the tests' configs name type csi
)

func errReason(r string, retryAfter time.Duration) error {
	return &source.Error{Reason: source.Reason(r), Op: "test", RetryAfter: retryAfter}
}
