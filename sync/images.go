package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// ImageChecker waits until container images exist in their registries, so that a deploy whose
// CI has not pushed the image yet waits for it instead of rolling out pods stuck in
// ImagePullBackOff. It asks the OCI distribution API for each image's manifest (HEAD
// /v2/<name>/manifests/<reference>), anonymously or with the bearer token the registry's
// WWW-Authenticate challenge points to.
type ImageChecker struct {
	// Client makes the calls; it retries connection errors and 5xx. Default: go-retryablehttp
	// with 3 retries and no logging.
	Client *retryablehttp.Client
	// Interval between two checks of a missing image. Default 2s.
	Interval time.Duration
	// PlainHTTP lists registry hosts spoken to over plain HTTP (a local registry).
	// localhost and 127.0.0.1 always are.
	PlainHTTP []string
}

// ErrImageMissing means that an image did not appear in its registry before the deadline.
var ErrImageMissing = errors.New("image not found in its registry")

// Wait returns when every image exists, or an error naming the missing ones when ctx ends. A
// registry that refuses access (403) is not retried.
func (c *ImageChecker) Wait(ctx context.Context, images []string) error {
	client := c.Client
	if client == nil {
		client = retryablehttp.NewClient()
		client.RetryMax = 3
		client.Logger = nil
	}
	interval := c.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	missing := map[string]error{}
	for _, img := range images {
		missing[img] = nil
	}
	for {
		for img := range missing {
			ok, err := c.exists(ctx, client, img)
			switch {
			case ok:
				delete(missing, img)
			case errors.Is(err, errRegistryRefused):
				return fmt.Errorf("image %s: %w", img, err)
			default:
				missing[img] = err
			}
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			var names []string
			for img, err := range missing {
				if err != nil {
					names = append(names, img+" ("+err.Error()+")")
				} else {
					names = append(names, img)
				}
			}
			return fmt.Errorf("%w: %s", ErrImageMissing, strings.Join(names, ", "))
		case <-time.After(interval):
		}
	}
}

var errRegistryRefused = errors.New("registry refused access")

// exists asks the registry for img's manifest.
func (c *ImageChecker) exists(ctx context.Context, client *retryablehttp.Client, img string) (bool, error) {
	ref, err := parseImage(img)
	if err != nil {
		return false, err
	}
	scheme := "https"
	if ref.host == "localhost" || strings.HasPrefix(ref.host, "localhost:") || strings.HasPrefix(ref.host, "127.0.0.1") || slices.Contains(c.PlainHTTP, ref.host) {
		scheme = "http"
	}
	u := fmt.Sprintf("%s://%s/v2/%s/manifests/%s", scheme, ref.host, ref.name, ref.reference)
	head := func(token string) (*http.Response, error) {
		req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodHead, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", strings.Join([]string{
			"application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
			"application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json",
		}, ", "))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return client.Do(req)
	}
	resp, err := head("")
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		token, err := c.token(ctx, client, resp.Header.Get("WWW-Authenticate"), ref.name)
		if err != nil {
			return false, err
		}
		if resp, err = head(token); err != nil {
			return false, err
		}
		resp.Body.Close()
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	case http.StatusForbidden, http.StatusUnauthorized:
		return false, fmt.Errorf("%w: %s", errRegistryRefused, resp.Status)
	}
	return false, fmt.Errorf("registry answered %s", resp.Status)
}

// token follows a Bearer challenge (realm, service, scope) to an anonymous pull token.
func (c *ImageChecker) token(ctx context.Context, client *retryablehttp.Client, challenge, name string) (string, error) {
	scheme, params, ok := strings.Cut(challenge, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: unsupported challenge %q", errRegistryRefused, challenge)
	}
	p := map[string]string{}
	for _, kv := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		p[k] = strings.Trim(v, `"`)
	}
	realm, err := url.Parse(p["realm"])
	if err != nil || realm.Host == "" {
		return "", fmt.Errorf("%w: bad realm in %q", errRegistryRefused, challenge)
	}
	q := realm.Query()
	if p["service"] != "" {
		q.Set("service", p["service"])
	}
	scope := p["scope"]
	if scope == "" {
		scope = "repository:" + name + ":pull"
	}
	q.Set("scope", scope)
	realm.RawQuery = q.Encode()
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: token endpoint answered %s", errRegistryRefused, resp.Status)
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("decode registry token: %w", err)
	}
	if body.Token != "" {
		return body.Token, nil
	}
	return body.AccessToken, nil
}

type imageRef struct{ host, name, reference string }

// parseImage splits an image reference the way container runtimes do: a first component
// with a dot, a colon or "localhost" is the registry (default docker.io, with "library/"
// for single names); the reference is the digest, else the tag, else "latest".
func parseImage(img string) (imageRef, error) {
	rest := img
	var r imageRef
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		r.reference, rest = rest[i+1:], rest[:i]
	}
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		if r.reference == "" {
			r.reference = rest[i+1:]
		}
		rest = rest[:i]
	}
	if r.reference == "" {
		r.reference = "latest"
	}
	first, after, hasSlash := strings.Cut(rest, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r.host, r.name = first, after
	} else {
		r.host, r.name = "registry-1.docker.io", rest
		if !hasSlash {
			r.name = "library/" + rest
		}
	}
	if r.name == "" {
		return r, fmt.Errorf("image %q has no repository name", img)
	}
	return r, nil
}
