package collector

import (
	"time"

	"github.com/license-monitor/license-monitor/source"
)

func errReason(r string, retryAfter time.Duration) error {
	return &source.Error{Reason: source.Reason(r), Op: "test", RetryAfter: retryAfter}
}
