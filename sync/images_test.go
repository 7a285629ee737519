package sync

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseImage(t *testing.T) {
	tests := []struct {
		in   string
		want imageRef
	}{
		{"nginx", imageRef{"registry-1.docker.io", "library/nginx", "latest"}},
		{"nginx:1.27", imageRef{"registry-1.docker.io", "library/nginx", "1.27"}},
		{"acme/api:2", imageRef{"registry-1.docker.io", "acme/api", "2"}},
		{"ghcr.io/navikt/app:abc123", imageRef{"ghcr.io", "navikt/app", "abc123"}},
		{"localhost:5000/team/app", imageRef{"localhost:5000", "team/app", "latest"}},
		{"europe-north1-docker.pkg.dev/p/r/app@sha256:0123", imageRef{"europe-north1-docker.pkg.dev", "p/r/app", "sha256:0123"}},
		{"ghcr.io/a/b:1@sha256:99", imageRef{"ghcr.io", "a/b", "sha256:99"}},
	}
	for _, tt := range tests {
		got, err := parseImage(tt.in)
		if err != nil {
			t.Errorf("parseImage(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(imageRef{})); diff != "" {
			t.Errorf("parseImage(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// registry speaks the part of the OCI distribution API flyt uses: anonymous bearer tokens and
// HEAD of manifests. An image exists once it has been asked for appearAfter times.
func registry(t *testing.T, appearAfter int32) (host string, heads *atomic.Int32) {
	heads = &atomic.Int32{}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			if r.URL.Query().Get("scope") != "repository:team/app:pull" || r.URL.Query().Get("service") != "test-registry" {
				http.Error(w, "bad scope", http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte(`{"token":"pull-token"}`))
		case r.Header.Get("Authorization") != "Bearer pull-token":
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="test-registry",scope="repository:team/app:pull"`)
			w.WriteHeader(http.StatusUnauthorized)
		case r.Method == http.MethodHead && r.URL.Path == "/v2/team/app/manifests/1":
			if heads.Add(1) < appearAfter {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			w.Header().Set("Docker-Content-Digest", "sha256:feed")
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), heads
}

func TestImageCheckerWaitsForPushedImage(t *testing.T) {
	host, heads := registry(t, 3)
	c := &ImageChecker{Interval: 10 * time.Millisecond}
	if err := c.Wait(t.Context(), []string{host + "/team/app:1"}); err != nil {
		t.Fatal(err)
	}
	if n := heads.Load(); n != 3 {
		t.Errorf("manifest asked for %d times, want 3 (found on the third)", n)
	}
}

func TestImageCheckerGivesUpOnMissingImage(t *testing.T) {
	host, _ := registry(t, 1)
	c := &ImageChecker{Interval: 10 * time.Millisecond}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := c.Wait(ctx, []string{host + "/team/app:1", host + "/team/app:never"})
	if !errors.Is(err, ErrImageMissing) || !strings.Contains(err.Error(), "team/app:never") || strings.Contains(err.Error(), "team/app:1,") {
		t.Fatalf("err = %v, want ErrImageMissing naming only team/app:never", err)
	}
}
