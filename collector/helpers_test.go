package collector

import (
	"time"

	"github.com/license-monitor/license-monitor/internal/upstream"
)

func errReason(r string, retryAfter time.Duration) error {
	return &upstream.Error{Reason: upstream.Reason(r), Op: "test", RetryAfter: retryAfter}
}
