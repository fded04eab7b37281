// Package browsertest drives Debian's headless Chromium in tests (chromedp):
// the console's browser tests and the e2e test of the Temporal UI share it.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/chromedp"
)

// Wait is how long Until and WaitText wait.
const Wait = 30 * time.Second

// New starts Debian's headless Chromium with a window of width×height for t;
// t is skipped when chromium is not installed (make test installs it). The
// context ends with t, or after 2 minutes.
func New(t testing.TB, width, height int) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed: run make test, which installs Debian's chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.WindowSize(width, height), chromedp.DisableGPU)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

// Do runs steps; when one fails, Fatal.
func Do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		Fatal(t, ctx, err)
	}
}

// Get runs one action that returns a value; when it fails, Fatal.
func Get[T any](t testing.TB, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		Fatal(t, ctx, err)
	}
	return v
}

// Fatal fails t with err, the page's address and its text.
func Fatal(t testing.TB, ctx context.Context, err error) {
	t.Helper()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](PageText))
	t.Fatalf("browser: %v\nat %s:\n%.4000s", err, loc, text)
}

// PageText is the page's text with that of its same-origin iframes (the
// Temporal UI renders markdown in them).
const PageText = `(() => {
	const texts = [document.body ? document.body.innerText : ""];
	document.querySelectorAll("iframe").forEach(f => {
		try { texts.push(f.contentDocument.body.innerText); } catch (e) {}
	});
	return texts.join("\n");
})()`

// Until waits until the JavaScript expression expr is true on the page.
// The page may still be the previous one, or be replaced while expr runs:
// errors are retried until the deadline; then the error says what never
// happened.
func Until(expr, what string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		deadline := time.Now().Add(Wait)
		for {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, t)
			if err == nil && ok {
				return nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s (last error: %v)", what, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// WaitJS waits until expr is true on the page.
func WaitJS(expr string) chromedp.Action[chromedp.Void] {
	return Until(expr, "never true: "+expr)
}

// WaitText waits until the first element matching the CSS selector sel
// contains want.
func WaitText(sel, want string) chromedp.Action[chromedp.Void] {
	expr := `(document.querySelector(` + strconv.Quote(sel) + `) || {textContent: ""}).textContent.includes(` + strconv.Quote(want) + `)`
	return Until(expr, fmt.Sprintf("%s never contained %q", sel, want))
}

// WaitPageText waits until the page's text (PageText) contains want.
func WaitPageText(want string) chromedp.Action[chromedp.Void] {
	return Until(PageText+`.includes(`+strconv.Quote(want)+`)`, fmt.Sprintf("the page never showed %q", want))
}

// Click clicks, with the mouse, the first element matching the CSS selector
// sel, once it is visible. A node found in a document that is then replaced
// (a navigation ending, a part re-rendered) is gone by the time it is
// clicked ("Could not find node with given id"): then sel is queried again,
// in the new document, and that node is clicked. The failed attempt sent
// no mouse event, so nothing is clicked twice.
func Click(sel string) chromedp.Action[chromedp.Void] {
	return untilFresh("clicking "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// Visible waits until the first element matching sel is visible. Like
// Click, it queries again when the node it found goes stale because the
// document was replaced under it (a form's answer loading).
func Visible(sel string) chromedp.Action[chromedp.Void] {
	return untilFresh("waiting for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// untilFresh runs a, again while it fails on a stale node (up to 20 times).
func untilFresh(what string, a chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		var err error
		for range 20 {
			if _, err = a(ctx, t); !stale(err) {
				return err
			}
		}
		return fmt.Errorf("%s: the node went stale 20 times: %w", what, err)
	})
}

// stale says whether err is the browser's answer about a node that is no
// longer in the document.
func stale(err error) bool {
	var e *cdproto.Error
	if errors.Is(err, chromedp.ErrInvalidDimensions) {
		return true
	}
	return errors.As(err, &e) && (strings.Contains(e.Message, "node with given id") ||
		strings.Contains(e.Message, "Node is detached") || strings.Contains(e.Message, "No node found"))
}

// Screenshot saves the page as dir/name.png; nothing when dir is "" (the
// tests save them only when asked: make screenshots).
func Screenshot(t testing.TB, ctx context.Context, dir, name string) {
	t.Helper()
	if dir == "" {
		return
	}
	buf := Get(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}
