package source

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestReasonOf(t *testing.T) {
	e := &Error{Reason: ReasonRateLimited, Op: "GET licenses", Status: 429, RetryAfter: 7 * time.Second}
	wrapped := fmt.Errorf("poll: %w", e)
	if ReasonOf(wrapped) != ReasonRateLimited || RetryAfterOf(wrapped) != 7*time.Second {
		t.Errorf("ReasonOf %q, RetryAfterOf %v", ReasonOf(wrapped), RetryAfterOf(wrapped))
	}
	if ReasonOf(errors.New("plain")) != "" || RetryAfterOf(errors.New("plain")) != 0 {
		t.Error("an error that is not an *Error has a reason")
	}
}

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  Error
		want string
	}{
		{Error{Reason: ReasonHTTP4xx, Op: "GET licenses", Status: 401}, "GET licenses: http_4xx (HTTP 401); the credential or API link was rejected, check the source's url and authorization"},
		{Error{Reason: ReasonHTTP4xx, Op: "POST terminate", Status: 409, Code: "checked_out", Detail: "no"}, "POST terminate: http_4xx (HTTP 409) code=checked_out: no; this is a configuration problem, not retried quickly"},
		{Error{Reason: ReasonTimeout, Op: "GET sessions page 2", Detail: "the poll's timeout passed"}, "GET sessions page 2: timeout: the poll's timeout passed"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

// The reasons are a label's values, part of the metric contract.
func TestReasonsAreTheContract(t *testing.T) {
	var got []string
	for _, r := range Reasons {
		got = append(got, string(r))
	}
	if want := "timeout connection http_4xx http_5xx rate_limited decode invalid too_large"; strings.Join(got, " ") != want {
		t.Errorf("reasons %q, want %q", got, want)
	}
}
