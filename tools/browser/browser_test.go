// Package browser drives the sidecar's monitor page in Debian's chromium,
// against the built license_sidecar and license_simulator.
package browser

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/license-monitor/license-monitor/internal/sidecar/sidecartest"
	"github.com/license-monitor/license-monitor/internal/testenv"
)

// screenshotEnv, when set to 1, makes the test refresh the PNG committed
// under docs/ for the README.
const screenshotEnv = "UPDATE_SIDECAR_SCREENSHOT"

// browser starts a headless chromium with a fresh profile; the network
// is closed, so everything chromium would fetch by itself is off.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := testenv.RequireTool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // root in a container
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := context.WithTimeout(allocCtx, 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// tab opens a tab signed in as user: every request of the tab, the
// page's own fetch calls included, carries the user's basic auth.
func tab(t *testing.T, parent context.Context, user string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + sidecartest.Passwords[user]))
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Basic " + auth}})
		return err
	}))
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

func strs(t *testing.T, ctx context.Context, js string) []string {
	t.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return out
}

const (
	buttonsJS = `Array.from(document.querySelectorAll('#sessions button[data-terminate]')).map(b => b.dataset.terminate)`
	rowsJS    = `Array.from(document.querySelectorAll('#sessions tbody tr[data-session-id]')).map(r => r.dataset.sessionId)`
)

// reasonJS is the text shown in place of a button in one session's row.
func reasonJS(id string) string {
	return `Array.from(document.querySelectorAll('#sessions tr[data-session-id="` + id + `"] .why, #sessions tr[data-session-id="` + id + `"] button')).map(e => e.tagName + ':' + e.textContent.trim())`
}

func TestMonitorPageInChromium(t *testing.T) {
	tokenFile := testenv.WriteFile(t, "sim.token", "tok-browser-test\n")
	sim := testenv.StartSimulator(t, "--no-churn", "--token-file="+tokenFile)
	sc := sidecartest.Start(t, sidecartest.Options{UpstreamURL: sim.BaseURL, TokenFile: tokenFile})
	ctx := browser(t)

	// The expected buttons come from the JSON API, the same decision the
	// page must show; the pinned demo sessions are checked by name.
	adminView := sc.Monitor(t, "admin", "")
	var adminCan []string
	ids := map[string]string{} // "user host" -> session id
	for _, s := range adminView.Sessions {
		if s.CanTerminate {
			adminCan = append(adminCan, s.ID)
		}
		ids[s.User+" "+s.Host] = s.ID
	}
	bobSignIn, bobCheckedOut, carol := ids["bob@acme.example WS-BOB"], ids["bob@acme.example LT-BOB"], ids["carol@acme.example WS-CAROL"]
	if bobSignIn == "" || bobCheckedOut == "" || carol == "" {
		t.Fatalf("pinned demo sessions missing: %v", ids)
	}
	sort.Strings(adminCan)

	t.Run("administrator sees Terminate buttons", func(t *testing.T) {
		admin := tab(t, ctx, "admin")
		if err := chromedp.Do(admin, chromedp.Navigate(sc.URL("/")), chromedp.WaitVisible(chromedp.CSS(`#sessions`))); err != nil {
			t.Fatal(err)
		}
		buttons := strs(t, admin, buttonsJS)
		sort.Strings(buttons)
		if len(buttons) < 2 || !slices.Equal(buttons, adminCan) || !slices.Contains(buttons, carol) || !slices.Contains(buttons, bobSignIn) {
			t.Errorf("admin's buttons %v, want %v (with carol's and bob's)", buttons, adminCan)
		}
		if got := strs(t, admin, reasonJS(bobCheckedOut)); !slices.Equal(got, []string{"SPAN:Checked out"}) {
			t.Errorf("bob's checked-out session shows %v, want only its reason", got)
		}
		gauges := strs(t, admin, `Array.from(document.querySelectorAll('.gauge label')).map(l => l.textContent)`)
		if !slices.Contains(gauges, "ETABS") || !slices.Contains(gauges, "SAP2000") {
			t.Errorf("gauges %v", gauges)
		}
		shot := screenshot(t, admin)
		if os.Getenv(screenshotEnv) == "1" {
			dst := filepath.Join(testenv.RepoRoot(), "docs", "sidecar-monitor.png")
			if err := os.WriteFile(dst, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", dst)
		}
	})

	t.Run("plain user sees buttons only on his own sessions", func(t *testing.T) {
		bob := tab(t, ctx, "bob")
		if err := chromedp.Do(bob, chromedp.Navigate(sc.URL("/")), chromedp.WaitVisible(chromedp.CSS(`#sessions`))); err != nil {
			t.Fatal(err)
		}
		if got := strs(t, bob, buttonsJS); !slices.Equal(got, []string{bobSignIn}) {
			t.Errorf("bob's buttons %v, want only his sign-in session %s", got, bobSignIn)
		}
		if got := strs(t, bob, reasonJS(carol)); !slices.Equal(got, []string{"SPAN:Not yours"}) {
			t.Errorf("carol's session shows %v to bob", got)
		}
		if got := strs(t, bob, reasonJS(bobCheckedOut)); !slices.Equal(got, []string{"SPAN:Checked out"}) {
			t.Errorf("bob's checked-out session shows %v", got)
		}
		screenshot(t, bob)
	})

	t.Run("cancel sends nothing; confirming removes the row after refresh", func(t *testing.T) {
		bob := tab(t, ctx, "bob")
		sel := chromedp.CSS(`#sessions button[data-terminate="` + bobSignIn + `"]`)
		row := chromedp.CSS(`#sessions tr[data-session-id="` + bobSignIn + `"]`)
		dialogOpen := chromedp.CSS(`#confirm[open]`)
		err := chromedp.Do(bob,
			chromedp.Navigate(sc.URL("/")),
			chromedp.WaitVisible(sel),
			chromedp.Click(sel),
			chromedp.WaitVisible(dialogOpen),
			chromedp.Click(chromedp.ID("confirm-cancel")),
			chromedp.WaitNotPresent(dialogOpen),
		)
		if err != nil {
			t.Fatal(err)
		}
		if n := sim.Requests(t)["terminate"]; n != 0 {
			t.Fatalf("cancel sent %d terminate calls", n)
		}
		if err := chromedp.Do(bob, chromedp.Click(sel), chromedp.WaitVisible(dialogOpen)); err != nil {
			t.Fatal(err)
		}
		dialogText, err := chromedp.Run(bob, chromedp.Text(chromedp.ID("confirm-text")))
		if err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(bob, chromedp.Click(chromedp.ID("confirm-yes")), chromedp.WaitNotPresent(row)); err != nil {
			t.Fatal(err)
		}
		result, err := chromedp.Run(bob, chromedp.Text(chromedp.ID("result")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(dialogText, "bob@acme.example") || !strings.Contains(dialogText, "WS-BOB") {
			t.Errorf("the confirmation does not say whose session: %q", dialogText)
		}
		if !strings.HasPrefix(result, "Terminated") {
			t.Errorf("result shown: %q", result)
		}
		if n := sim.Requests(t)["terminate"]; n != 1 {
			t.Errorf("%d upstream terminate calls, want 1", n)
		}
		if rec := sc.LastAudit(t); rec.Identity != "bob" || rec.Session != bobSignIn || rec.Outcome != "terminated" {
			t.Errorf("audit %+v", rec)
		}
		if got := strs(t, bob, rowsJS); slices.Contains(got, bobSignIn) || !slices.Contains(got, bobCheckedOut) {
			t.Errorf("rows after refresh: %v", got)
		}
		screenshot(t, bob)
	})
}

// screenshot saves the visible page under the test's temporary directory
// and returns the PNG.
func screenshot(t *testing.T, ctx context.Context) []byte {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "monitor.png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Fatalf("not a PNG screenshot: %d bytes", len(png))
	}
	return png
}
