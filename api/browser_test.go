package api

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// chromium runs headless Chromium once with extra arguments and returns its stdout and stderr.
func chromium(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, chromiumPath, append(base, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

// consoleProblems returns the lines of Chromium's log that come from a page's console or
// report an uncaught exception. Chromium logs console.error as INFO:CONSOLE, and flyt's pages
// run no script, so any console line at all is a problem.
func consoleProblems(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
			out = append(out, line)
		}
	}
	return out
}

// localRef matches the same-origin links and assets of a rendered page.
var localRef = regexp.MustCompile(`(?:href|src)="(/[^"]*)"`)

// checkLinks fetches every same-origin link and asset of a rendered DOM: Chromium's log does
// not report a stylesheet or icon that failed to load, so broken ones are found here.
func checkLinks(t *testing.T, base, dom string) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range localRef.FindAllStringSubmatch(dom, -1) {
		ref := html.UnescapeString(m[1])
		if seen[ref] {
			continue
		}
		seen[ref] = true
		if status, _ := call(t, "GET", base+ref, ""); status != http.StatusOK {
			t.Errorf("a page links to %s, which answers %d", ref, status)
		}
	}
	if !seen["/static/flyt.css"] {
		t.Errorf("%s does not link the stylesheet", base)
	}
}

// TestBrowser renders the matrix, a timeline, a deploy and the DORA page in headless Chromium
// at desktop and phone widths, checks the rendered DOM and that the page logged no errors,
// and keeps screenshots (in $FLYT_SCREENSHOTS when set, to look at them).
//
// It needs Debian's chromium (apt-get install -y chromium); without it the test fails and says
// how to install it.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the UI test needs headless Chromium at %s: install it with `apt-get install -y chromium`", chromiumPath)
	}
	f := seed(t)
	op := newFakeOperator()
	f.freeze(t, "prod", "julebord")
	srv := serve(t, Options{Store: f.store, Operator: op})
	shots := os.Getenv("FLYT_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	pages := []struct {
		name string
		path string
		dom  []string // in the DOM Chromium built
	}{
		{"matrix", "/", []string{`id="matrix"`, "dp-behandling", "tiltaksgjennomforing", "bbbbbbb", "failure", "in progress", "frozen"}},
		{"timeline", "/apps/dp-behandling", []string{`id="timeline"`, "<details>", "crash loop: container dp-behandling exited 1", "dp-behandling-config", "promotion by alice"}},
		{"deploy", fmt.Sprintf("/deploys/%d", f.ids["behandling-dev-a"]), []string{`id="status-log"`, "Deployment.apps", "all objects ready"}},
		{"dora", "/dora?days=7", []string{`id="dora"`, "All teams", "dagpenger", "tiltak", `<rect class="s"`, "Change failure rate"}},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			url := srv.URL + p.path
			dom, log := chromium(t, "--window-size=1280,900", "--dump-dom", url)
			for _, w := range p.dom {
				if !strings.Contains(dom, w) {
					t.Errorf("rendered DOM of %s lacks %q", p.path, w)
				}
			}
			if probs := consoleProblems(log); len(probs) > 0 {
				t.Errorf("%s logged errors in the browser:\n%s", p.path, strings.Join(probs, "\n"))
			}
			checkLinks(t, srv.URL, dom)
			for _, size := range []struct{ name, arg string }{{"desktop", "1280,900"}, {"phone", "375,800"}} {
				file := filepath.Join(shots, p.name+"-"+size.name+".png")
				_, log := chromium(t, "--window-size="+size.arg, "--hide-scrollbars", "--screenshot="+file, url)
				if probs := consoleProblems(log); len(probs) > 0 {
					t.Errorf("%s at %s logged errors:\n%s", p.path, size.name, strings.Join(probs, "\n"))
				}
				checkScreenshot(t, file)
			}
		})
	}
}

// checkScreenshot checks that Chromium wrote a PNG that is not one flat colour.
func checkScreenshot(t *testing.T, file string) {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("screenshot %s: %v", file, err)
	}
	b := img.Bounds()
	first := img.At(b.Min.X, b.Min.Y)
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			if img.At(x, y) != first {
				return
			}
		}
	}
	t.Errorf("screenshot %s is blank", file)
}
